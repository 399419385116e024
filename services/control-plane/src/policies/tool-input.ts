/** Every string in a tool call's input, depth first (object values, array items, or the input itself). */
export function stringsIn(input: unknown, depth = 0): string[] {
  // Inputs come from a model as JSON, so they are trees; the bound only guards against absurd nesting.
  if (depth > 64) return [];
  if (typeof input === "string") return [input];
  if (Array.isArray(input)) return input.flatMap((v) => stringsIn(v, depth + 1));
  if (typeof input === "object" && input !== null) return Object.values(input).flatMap((v) => stringsIn(v, depth + 1));
  return [];
}
