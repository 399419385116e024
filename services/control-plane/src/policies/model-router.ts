import { createGlobMatcher, type Policy, type PolicyRequest } from "@luthien/policy-sdk";
import { optionError, readOptions, readString } from "./options";

/**
 * Rewrites the request's model: the first route whose `match` glob matches the requested model gives the new
 * one. The gateway has already picked the provider from the model the client asked for, so route within one
 * provider (or to a model its provider also serves). Mode SKIP.
 *
 * Options: `routes` (required; a list of `{match, model}`, `match` a glob: `gpt-4o*`, `*`).
 * Events: `routed {from, to}`.
 */
export function createModelRouterPolicy(options: unknown, path: string): Policy {
  const o = readOptions(options, path, ["routes"]);
  const list = o["routes"];
  if (!Array.isArray(list) || list.length === 0) throw optionError(`${path}.routes`, "expected a non-empty list of { match, model }");
  const routes = list.map((entry: unknown, i) => {
    const at = `${path}.routes[${i}]`;
    const r = readOptions(entry, at, ["match", "model"]);
    return { matches: createGlobMatcher(readString(r, at, "match")), model: readString(r, at, "model") };
  });
  return {
    name: "model-router",
    mode: "SKIP",
    onRequest(request, ctx): PolicyRequest {
      const from = request.body.model;
      const to = routes.find((r) => r.matches(from))?.model;
      if (to === undefined || to === from) return request;
      ctx.emit("routed", { from, to });
      return request.format === "openai" ? { format: "openai", body: { ...request.body, model: to } } : { format: "anthropic", body: { ...request.body, model: to } };
    },
  };
}
