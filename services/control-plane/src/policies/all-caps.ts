import { createTextPolicy, mapText, type AnyPolicy } from "@luthien/policy-sdk";

/** Upper-cases assistant text; tool calls and everything else pass untouched. */
export function createAllCapsPolicy(): AnyPolicy {
  return createTextPolicy({ name: "all-caps", createTransformer: () => mapText((t) => t.toUpperCase()) });
}
