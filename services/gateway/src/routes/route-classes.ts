import { createGlobMatcher } from "@luthien/runtime";
import type { UncheckedRoute } from "../upstream/routing";

/**
 * Every route under `/v1/` is in one of three classes, listed here and nowhere else:
 * - **decided**: the policies decide its calls (the three client formats; `count_tokens` runs the request phase;
 *   Anthropic Message Batches when GATEWAY_CONFIG `batches.enabled` is set, see {@link BATCH_ROUTES});
 * - **harmless**: passed to the provider as it is, because it carries no prompt and no completion (model lists);
 * - **refused**: everything else, with an error in the client's format that names the route and how to allow it.
 * An operator may let a refused route through unchecked (`uncheckedRoutes` in GATEWAY_CONFIG); every such call is
 * marked like a fail-open bypass (`x-luthien-policy-bypassed: unchecked-route`, `policy.bypassed`, a metric).
 *
 * Routing and forwarding see one normalised path (see {@link normalisePath}), so `..`, `%2e%2e`, `\`, `//` or a
 * different case cannot turn a refused or harmless path into a decided endpoint at the provider.
 */
export interface DecidedRoute {
  method: "POST";
  path: string;
  /** What the policies see of it. */
  what: string;
}

export const DECIDED_ROUTES: readonly DecidedRoute[] = [
  { method: "POST", path: "/v1/chat/completions", what: "OpenAI Chat Completions: request, response and every stream event" },
  { method: "POST", path: "/v1/messages", what: "Anthropic Messages: request, response and every stream event" },
  { method: "POST", path: "/v1/responses", what: "OpenAI Responses API: request, response and every stream event" },
  { method: "POST", path: "/v1/messages/count_tokens", what: "Anthropic token counting: the request phase (a deny is an error, nothing reaches the provider)" },
];

/** What a Message Batches route does; batches.ts has one handler per kind. */
export type BatchRouteKind = "create" | "list" | "retrieve" | "results" | "cancel" | "delete";

export interface BatchRoute {
  method: "get" | "post" | "delete";
  /** An Express path; `:batchId` is one path segment. */
  path: string;
  kind: BatchRouteKind;
  /** What the policies see of it. */
  what: string;
}

/**
 * Anthropic Message Batches (batches.ts): decided when GATEWAY_CONFIG `batches.enabled` is set, refused otherwise
 * (an operator may still let them through unchecked while batches are off).
 */
export const BATCH_ROUTES: readonly BatchRoute[] = [
  { method: "post", path: "/v1/messages/batches", kind: "create", what: "each request's params pass the request phase; any deny refuses the whole batch" },
  { method: "get", path: "/v1/messages/batches", kind: "list", what: "passed through; every results_url points at the gateway" },
  { method: "get", path: "/v1/messages/batches/:batchId", kind: "retrieve", what: "passed through; results_url points at the gateway" },
  { method: "get", path: "/v1/messages/batches/:batchId/results", kind: "results", what: "each succeeded message passes the response phase; a deny makes its line errored" },
  { method: "post", path: "/v1/messages/batches/:batchId/cancel", kind: "cancel", what: "passed through (carries no prompt)" },
  { method: "delete", path: "/v1/messages/batches/:batchId", kind: "delete", what: "passed through (carries no prompt)" },
];

/** Why a request on a batch path reached the passthrough: batches are off, or it came in another spelling or method. */
const BATCH_REFUSAL =
  "Message Batches pass the policies only when GATEWAY_CONFIG sets `batches: { enabled: true }`, and then only as " +
  BATCH_ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path.replace(":batchId", "{id}")}`).join(", ");

const isBatchPath = (lower: string): boolean => lower === "/v1/messages/batches" || lower.startsWith("/v1/messages/batches/");

/** Routes that carry no prompt or completion, passed through with the caller's auth. */
export const HARMLESS_ROUTES: readonly { method: "GET"; path: string }[] = [
  { method: "GET", path: "/v1/models" },
  { method: "GET", path: "/v1/models/*" },
];

/** The class of a request no decided route's handler took. */
export type PassthroughClass = { kind: "harmless" } | { kind: "unchecked"; route: UncheckedRoute } | { kind: "refused"; reason: string };

/**
 * The path as a provider would resolve it: percent-decoded once, `\` read as `/`, dot segments resolved, repeated
 * slashes collapsed, a trailing slash dropped. Undefined when it cannot be decoded, still holds a `%` (double
 * encoding, which some servers decode twice) or climbs above the root.
 */
export function normalisePath(raw: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  if (decoded.includes("%") || /[\u0000-\u001f\u007f]/.test(decoded)) return undefined;
  const out: string[] = [];
  for (const segment of decoded.replace(/\\/g, "/").split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (out.pop() === undefined) return undefined;
      continue;
    }
    out.push(segment);
  }
  return `/${out.join("/")}`;
}

const matcher = (glob: string): ((path: string) => boolean) => {
  const m = createGlobMatcher(glob.toLowerCase());
  return (path) => m(path.toLowerCase());
};
/** A harmless route's `*` is one path segment: `/v1/models/*` is a model, not everything below it. */
const segmentMatcher = (glob: string): ((path: string) => boolean) => {
  const re = new RegExp(
    `^${glob
      .toLowerCase()
      .split("*")
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join("[^/]+")}$`,
  );
  return (path) => re.test(path.toLowerCase());
};
const harmless = HARMLESS_ROUTES.map((r) => ({ method: r.method, matches: segmentMatcher(r.path) }));

/**
 * The class of a request that no decided route's handler took, by its normalised path. One that normalises onto a
 * decided route came with another method or in a disguise (`/v1/x/../messages`): refused, never passed through.
 */
export function classifyPassthrough(method: string, path: string | undefined, unchecked: readonly UncheckedRoute[]): PassthroughClass {
  if (path === undefined) return { kind: "refused", reason: "its path does not normalise to a plain path" };
  const lower = path.toLowerCase();
  const decided = DECIDED_ROUTES.find((r) => r.path === lower);
  if (decided !== undefined) {
    return { kind: "refused", reason: method === decided.method ? `it resolves to ${decided.path}; call that path as it is` : `only ${decided.method} ${decided.path} is served` };
  }
  if (harmless.some((r) => r.method === method && r.matches(path))) return { kind: "harmless" };
  const opted = unchecked.find((r) => (r.methods.length === 0 || r.methods.includes(method)) && matcher(r.path)(path));
  if (opted !== undefined) return { kind: "unchecked", route: opted };
  if (isBatchPath(lower)) return { kind: "refused", reason: BATCH_REFUSAL };
  return { kind: "refused", reason: "its content would reach the provider without any policy" };
}

/**
 * The batch route an unchecked route's glob would cover, if any: a configuration error while batches are enabled,
 * since the policies decide them then.
 */
export function batchRouteMatching(route: UncheckedRoute): string | undefined {
  const m = matcher(route.path);
  const hit = BATCH_ROUTES.find((r) => m(r.path.replace(":batchId", "msgbatch_0")) && (route.methods.length === 0 || route.methods.includes(r.method.toUpperCase())));
  return hit === undefined ? undefined : `${hit.method.toUpperCase()} ${hit.path.replace(":batchId", "{id}")}`;
}

/** The decided route an unchecked route's glob would cover, if any (a configuration error). */
export function decidedRouteMatching(route: UncheckedRoute): string | undefined {
  const m = matcher(route.path);
  const hit = DECIDED_ROUTES.find((r) => m(r.path) && (route.methods.length === 0 || route.methods.includes(r.method)));
  return hit === undefined ? undefined : `${hit.method} ${hit.path}`;
}

const SERVED = [...DECIDED_ROUTES.map((r) => `${r.method} ${r.path}`), ...HARMLESS_ROUTES.map((r) => `${r.method} ${r.path}`)].join(", ");

/** The error text of a refused route: which route, why, what is served, and how an operator allows it. */
export function refusal(method: string, path: string, reason: string): string {
  return (
    `${method} ${path} is not served by this gateway: ${reason}. Served: ${SERVED}. ` +
    "An operator can let another route through unchecked with `uncheckedRoutes` in GATEWAY_CONFIG (its calls are marked as bypassing policy)"
  );
}
