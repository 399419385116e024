/** Tool-call arguments as JSON text → value; "" → {}; text that is not JSON stays text (so string checks still see it). */
export function parseJson(text: string): unknown {
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** A value as JSON text ("{}" for what has none, like undefined). */
export function jsonText(value: unknown): string {
  return JSON.stringify(value) ?? "{}";
}
