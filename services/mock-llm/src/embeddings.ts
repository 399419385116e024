import { createHash } from "node:crypto";
import type { CallContext, EndpointFormat, JsonAnswer } from "./endpoint";
import { OPENAI_FORMAT_BASE, openaiErrorBody } from "./openai";

/** The length of a mock embedding when the request names no `dimensions`. */
export const DEFAULT_DIMENSIONS = 8;

/** The largest `dimensions` the mock accepts (text-embedding-3-large's). */
const MAX_DIMENSIONS = 3072;

/**
 * The request's `input` as one string per embedding: a string, strings, or token arrays (each as its JSON).
 * @returns undefined when `input` is none of OpenAI's accepted shapes
 */
function inputsOf(input: unknown): string[] | undefined {
  if (typeof input === "string") return [input];
  if (!Array.isArray(input) || input.length === 0) return undefined;
  if (input.every((s): s is string => typeof s === "string")) return input;
  if (input.every((n) => typeof n === "number")) return [JSON.stringify(input)];
  if (input.every((a) => Array.isArray(a) && a.every((n) => typeof n === "number"))) return input.map((a) => JSON.stringify(a));
  return undefined;
}

/**
 * A unit vector that depends only on `text`, so that equal inputs embed equally and different ones (almost
 * certainly) do not. The values are float32, as OpenAI's are, so the base64 and float encodings agree exactly.
 */
export function mockEmbedding(text: string, dimensions: number): number[] {
  const values: number[] = [];
  for (let block = 0; values.length < dimensions; block += 1) {
    const digest = createHash("sha256").update(`${block}:${text}`).digest();
    for (let i = 0; i + 4 <= digest.length && values.length < dimensions; i += 4) {
      values.push((digest.readUInt32BE(i) / 0xffffffff) * 2 - 1);
    }
  }
  const norm = Math.sqrt(values.reduce((n, v) => n + v * v, 0));
  return values.map((v) => Math.fround(norm === 0 ? v : v / norm));
}

/** OpenAI's `encoding_format: "base64"`: the float32 values, little-endian, base64. */
function base64Of(vector: readonly number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes.toString("base64");
}

function json(call: CallContext): JsonAnswer {
  const invalid = (message: string): JsonAnswer => ({ status: 400, body: openaiErrorBody(400, "invalid_request_error", message) });
  const inputs = inputsOf(call.request["input"]);
  if (inputs === undefined) {
    return invalid("mock-llm: 'input' must be a string, an array of strings, or an array of token arrays");
  }
  const requested = call.request["dimensions"];
  if (requested !== undefined && (typeof requested !== "number" || !Number.isInteger(requested) || requested < 1 || requested > MAX_DIMENSIONS)) {
    return invalid(`mock-llm: 'dimensions' must be an integer from 1 to ${MAX_DIMENSIONS}`);
  }
  const dimensions = typeof requested === "number" ? requested : DEFAULT_DIMENSIONS;
  const base64 = call.request["encoding_format"] === "base64";
  const tokens = call.script.inputTokens;
  return {
    status: 200,
    body: {
      object: "list",
      data: inputs.map((text, index) => {
        const vector = mockEmbedding(text, dimensions);
        return { object: "embedding", index, embedding: base64 ? base64Of(vector) : vector };
      }),
      model: call.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    },
  };
}

/**
 * `POST /v1/embeddings`: OpenAI Embeddings, JSON only. Each input gets a unit vector of `dimensions` (default 8)
 * floats derived from its text; of the script only `error`, `delayMs` and `usage.inputTokens` matter.
 */
export const embeddingsFormat: EndpointFormat = {
  ...OPENAI_FORMAT_BASE,
  name: "embeddings",
  json,
};
