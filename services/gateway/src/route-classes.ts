import { createGlobMatcher } from "@luthien/runtime";
import type { UncheckedRoute } from "./routing";

/**
 * Every route under `/v1/` is in one of three classes, listed here and nowhere else:
 * - **decided**: the policies decide its calls (the three client formats; `count_tokens` runs the request phase);
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

/** Routes that carry no prompt or completion, passed through with the caller's auth. */
export const HARMLESS_ROUTES: readonly { method: "GET"; path: string }[] = [
  { method: "GET", path: "/v1/models" },
  { method: "GET", path: "/v1/models/*" },
];

/** The class of a request no decided route's handler took. */
export type PassthroughClass =
  | { kind: "harmless" }
  | { kind: "unchecked"; route: UncheckedRoute }
  | { kind: "refused"; reason: string };

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
const harmless = HARMLESS_ROUTES.map((r) => ({ method: r.method, matches: matcher(r.path) }));

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
  return { kind: "refused", reason: "its content would reach the provider without any policy" };
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
