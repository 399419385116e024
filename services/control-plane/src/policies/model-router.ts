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
      // A Responses request may leave the model to a stored prompt; there is nothing to route then.
      const from = request.body.model;
      if (typeof from !== "string") return request;
      const to = routes.find((r) => r.matches(from))?.model;
      if (to === undefined || to === from) return request;
      ctx.emit("routed", { from, to });
      switch (request.format) {
        case "openai":
          return { format: "openai", body: { ...request.body, model: to } };
        case "anthropic":
          return { format: "anthropic", body: { ...request.body, model: to } };
        case "responses":
          return { format: "responses", body: { ...request.body, model: to } };
        default: {
          const unknown: never = request;
          throw new Error(`unknown request format ${JSON.stringify(unknown)}`);
        }
      }
    },
  };
}
