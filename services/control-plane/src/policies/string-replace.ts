import { createStringReplacer, createTextPolicy, type AnyPolicy, type TextTarget } from "@luthien/policy-sdk";
import { optionError, readOptions } from "./options";

/**
 * Literal find-and-replace on assistant text (and/or request text), across chunk boundaries, in every text carrier
 * a text policy writes (content, refusals, reasoning, transcripts, citations; Anthropic thinking is left alone).
 * Options: `replacements: [[from, to], ...]`, `matchCapitalization?: boolean` (default false),
 * `applyTo?: request|response|both` (default response).
 */
export function createStringReplacePolicy(options: unknown, path: string): AnyPolicy {
  const o = readOptions(options, path, ["replacements", "matchCapitalization", "applyTo"]);
  const list = o["replacements"];
  if (!Array.isArray(list) || list.length === 0) {
    throw optionError(`${path}.replacements`, "expected a non-empty list of [from, to] pairs");
  }
  const replacements = list.map((pair: unknown, i) => {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string" || pair[0] === "") {
      throw optionError(`${path}.replacements[${i}]`, "expected a [from, to] pair of strings with a non-empty from");
    }
    return [pair[0], pair[1]] as const;
  });
  const matchCapitalization = o["matchCapitalization"] ?? false;
  if (typeof matchCapitalization !== "boolean") throw optionError(`${path}.matchCapitalization`, "expected true or false");
  const applyTo = o["applyTo"] ?? "response";
  if (applyTo !== "request" && applyTo !== "response" && applyTo !== "both") {
    throw optionError(`${path}.applyTo`, "expected request, response or both");
  }
  return createTextPolicy({
    name: "string-replace",
    applyTo: applyTo as TextTarget,
    createTransformer: () => createStringReplacer({ replacements, matchCapitalization }),
  });
}
