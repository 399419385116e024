import { createGlobMatcher } from "@luthien/runtime";
import type { KeyRecord, RouteName } from "@luthien/keys";
import { PermissionError } from "../errors";
import { normalisePath } from "../routes/route-classes";
import type { EngineSelector } from "../upstream/routing";
import type { CallAuth } from "./auth";

/**
 * The route name a key's `routes` scope lists for a request path, read from the path as the passthrough forwards it
 * ({@link normalisePath}), so `/v1/models/%2e%2e/files` is not `models`; undefined for routes no scope can name.
 */
export function routeNameOf(path: string): RouteName | undefined {
  const p = normalisePath(path)?.toLowerCase();
  if (p === undefined) return undefined;
  if (p === "/v1/chat/completions") return "chat";
  if (p === "/v1/responses" || p.startsWith("/v1/responses/")) return "responses";
  if (p === "/v1/messages/count_tokens") return "count_tokens";
  if (p === "/v1/messages/batches" || p.startsWith("/v1/messages/batches/")) return "batches";
  if (p === "/v1/messages") return "messages";
  if (p === "/v1/models" || p.startsWith("/v1/models/")) return "models";
  return undefined;
}

/** @throws PermissionError when the key's `routes` scope does not list this path's route */
export function checkRouteScope(auth: CallAuth, path: string): void {
  const routes = auth.key?.scopes.routes;
  if (routes === undefined) return;
  const name = routeNameOf(path);
  if (name === undefined || !routes.includes(name)) throw new PermissionError(`this key may not call ${name ?? "this route"} (its scope allows: ${routes.join(", ")})`);
}

/** What picks a call's engine pool: its key id for the routing rules, and a virtual key's `engine` scope over them. */
export function engineSelectorOf(auth: CallAuth, model: string, route: string): EngineSelector {
  return { keyId: auth.keyId, model, route, engine: auth.key?.scopes.engine };
}

const matchers = new WeakMap<KeyRecord, (model: string) => boolean>();

/**
 * The request's own token cap: `max_tokens` (Chat Completions, Messages), `max_completion_tokens` (Chat
 * Completions), `max_output_tokens` (Responses). The largest one counts: a provider honours whichever it reads.
 */
export function requestedMaxTokens(body: Record<string, unknown>): number | undefined {
  let max: number | undefined;
  for (const field of ["max_tokens", "max_completion_tokens", "max_output_tokens"]) {
    const v = body[field];
    if (v === undefined || v === null) continue;
    const n = typeof v === "number" ? v : Number.NaN;
    max = Math.max(max ?? 0, Number.isFinite(n) ? n : Number.POSITIVE_INFINITY);
  }
  return max;
}

/** @throws PermissionError when the key's `models` globs do not match `model` */
export function checkModelScope(auth: CallAuth, model: string): void {
  const key = auth.key;
  const models = key?.scopes.models;
  if (key === undefined || models === undefined) return;
  let matches = matchers.get(key);
  if (matches === undefined) matchers.set(key, (matches = createGlobMatcher(models)));
  if (!matches(model)) throw new PermissionError(`this key may not use model ${JSON.stringify(model.slice(0, 200))} (its scope allows: ${models.join(", ")})`);
}

/**
 * The model (glob) and `maxTokens` scopes on a request body. A key with `maxTokens` needs the request to state a cap
 * at or below it: an absent one means the provider's own maximum.
 * @throws PermissionError naming what the scope allows (never the key)
 */
export function checkRequestScope(auth: CallAuth, body: Record<string, unknown>, model: string): void {
  checkModelScope(auth, model);
  const maxTokens = auth.key?.scopes.maxTokens;
  if (maxTokens === undefined) return;
  const asked = requestedMaxTokens(body);
  if (asked === undefined) throw new PermissionError(`this key allows at most ${maxTokens} tokens per request: set max_tokens (or max_completion_tokens, max_output_tokens)`);
  if (asked > maxTokens) throw new PermissionError(`this key allows at most ${maxTokens} tokens per request; the request asked for ${asked}`);
}
