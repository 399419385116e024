import { createTextPolicy, mapText, type AnyPolicy } from "@luthien/policy-sdk";

/**
 * Upper-cases the assistant's text in every carrier a text policy writes (content, refusals, reasoning,
 * transcripts, citations); tool calls, signed thinking and everything else pass untouched.
 */
export function createAllCapsPolicy(): AnyPolicy {
  return createTextPolicy({ name: "all-caps", createTransformer: () => mapText((t) => t.toUpperCase()) });
}
