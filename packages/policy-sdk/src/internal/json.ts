import type { ToolCall } from "../tool-call-gate";

/** Tool-call arguments as a client reads them: the object, or why a client could read them another way. */
export type ParsedArguments = { ok: true; value: Record<string, unknown> } | { ok: false; why: string };

/**
 * Tool-call arguments (JSON text) → the object every client runs, or a refusal when clients could disagree about it.
 *
 * Clients parse arguments differently: the Anthropic SDK's MessageStream completes truncated JSON
 * (`{"command": "rm -rf ~"` becomes `{command: "rm -rf ~"}`), openai-node's helpers partial-parse streamed
 * arguments, the AI SDK parses with secure-json-parse (which refuses `__proto__`), and JSON parsers disagree about
 * duplicate keys. Only text every one of them reads the same way is accepted: blank text (`{}`, as the SDKs read it)
 * or one complete JSON object with no duplicate keys and no `__proto__` key at any depth. Anything else — truncated,
 * trailing garbage, not an object — is refused, and the gate blocks the call without asking `decide`, so the gate
 * never decides on one reading while a client runs another.
 */
export function parseToolArguments(text: string): ParsedArguments {
  if (text.trim() === "") return { ok: true, value: {} };
  let value: unknown;
  let proto = false;
  try {
    value = JSON.parse(text, (key, v: unknown) => {
      if (key === "__proto__") proto = true;
      return v;
    });
  } catch {
    return { ok: false, why: "its arguments are not complete JSON" };
  }
  if (!isPlainObject(value)) return { ok: false, why: "its arguments are not a JSON object" };
  if (proto) return { ok: false, why: "its arguments have a __proto__ key" };
  const dup = duplicateKey(text);
  if (dup !== undefined) return { ok: false, why: `its arguments name the key ${JSON.stringify(dup)} twice` };
  return { ok: true, value };
}

/**
 * Checks an input that arrived parsed (an Anthropic `tool_use.input`): it must be a plain object without a
 * `__proto__` key, like {@link parseToolArguments}' results.
 */
export function checkToolInput(input: unknown): ParsedArguments {
  if (!isPlainObject(input)) return { ok: false, why: "its input is not a JSON object" };
  if (hasProtoKey(input, 0)) return { ok: false, why: "its input has a __proto__ key" };
  return { ok: true, value: input };
}

/** Calls the gate refuses without asking `decide`, and why (registered where the call is made). */
const refused = new WeakMap<ToolCall, string>();

/** A call whose input is JSON text: the parsed object, or the raw text for a call the gate will refuse. */
export function jsonCall(id: string, name: string, text: string): ToolCall {
  const parsed = parseToolArguments(text);
  const call: ToolCall = { id, name, input: parsed.ok ? parsed.value : text };
  if (!parsed.ok) refused.set(call, parsed.why);
  return call;
}

/** A call whose input arrived parsed; refused unless it is a plain object. */
export function objectCall(id: string, name: string, input: unknown): ToolCall {
  const checked = checkToolInput(input);
  const call: ToolCall = { id, name, input };
  if (!checked.ok) refused.set(call, checked.why);
  return call;
}

/** Why the gate must block `call` without deciding it, or undefined. */
export function refusalOf(call: ToolCall): string | undefined {
  return refused.get(call);
}

/** A value as JSON text ("{}" for what has none, like undefined). */
export function jsonText(value: unknown): string {
  return JSON.stringify(value) ?? "{}";
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function hasProtoKey(x: unknown, depth: number): boolean {
  if (depth > 128 || typeof x !== "object" || x === null) return false;
  if (Object.hasOwn(x, "__proto__")) return true;
  return Object.values(x).some((v) => hasProtoKey(v, depth + 1));
}

/**
 * The first key an object of `text` (valid JSON, already parsed) names twice, or undefined. JSON.parse keeps the
 * last of duplicate keys; other parsers keep the first or refuse, so a call must not depend on it.
 */
function duplicateKey(text: string): string | undefined {
  const stack: { keys: Set<string> | undefined; expectKey: boolean }[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.keys !== undefined && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return key;
        top.keys.add(key);
        top.expectKey = false;
      }
      i = j;
    } else if (c === "{") stack.push({ keys: new Set(), expectKey: true });
    else if (c === "[") stack.push({ keys: undefined, expectKey: false });
    else if (c === "}" || c === "]") stack.pop();
    else if (c === ",") {
      const top = stack[stack.length - 1];
      if (top?.keys !== undefined) top.expectKey = true;
    }
  }
  return undefined;
}
