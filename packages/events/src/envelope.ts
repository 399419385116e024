import { InvalidEventError } from "./errors";
import { isValidEventType } from "./subjects";
import { ACTIVITY_SOURCES, type ActivityEvent, type ActivitySource, type JsonObject } from "./types";
import { isUuid } from "./uuid";

/** Longest accepted `callId`, in characters. */
export const MAX_CALL_ID_LENGTH = 256;

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

// ISO 8601 date-time with a zone (Z or ±hh:mm); Date.parse alone accepts too much ("2024", "Tue Mar 5").
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Decodes and validates one activity event (UTF-8 JSON bytes, or a string). Unknown envelope fields are ignored so
 * newer publishers do not break older consumers. `id` comes back lower-case and `time` normalised to
 * `YYYY-MM-DDTHH:mm:ss.sssZ`.
 * @throws InvalidEventError naming the field when the bytes are not UTF-8 JSON, not an object, or a field is
 *   missing or malformed (`id` a UUID; `callId` a non-empty string up to 256 characters; `seq` a positive safe
 *   integer; `type` a valid type; `source` `gateway`|`control-plane`; `time` ISO 8601 with a zone; `data` an object)
 */
export function parseActivityEvent(bytes: Uint8Array | string): ActivityEvent {
  let text: string;
  try {
    text = typeof bytes === "string" ? bytes : decoder.decode(bytes);
  } catch (err) {
    throw new InvalidEventError("$", "not valid UTF-8", { cause: err });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InvalidEventError("$", `not JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (!isPlainObject(doc)) throw new InvalidEventError("$", "an activity event must be a JSON object");
  const { id, callId, seq, type, source, time, data } = doc;
  if (typeof id !== "string" || !isUuid(id)) throw new InvalidEventError("id", "must be a UUID string");
  if (typeof callId !== "string" || callId === "" || callId.length > MAX_CALL_ID_LENGTH) {
    throw new InvalidEventError("callId", `must be a non-empty string of at most ${MAX_CALL_ID_LENGTH} characters`);
  }
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) {
    throw new InvalidEventError("seq", "must be a positive integer");
  }
  if (typeof type !== "string" || !isValidEventType(type)) {
    throw new InvalidEventError("type", "must be dot-separated tokens of letters, digits, '_' and '-'");
  }
  if (typeof source !== "string" || !(ACTIVITY_SOURCES as readonly string[]).includes(source)) {
    throw new InvalidEventError("source", `must be one of ${ACTIVITY_SOURCES.join("|")}`);
  }
  if (typeof time !== "string" || !ISO_RE.test(time) || Number.isNaN(Date.parse(time))) {
    throw new InvalidEventError("time", "must be an ISO 8601 date-time with a time zone");
  }
  if (!isPlainObject(data)) throw new InvalidEventError("data", "must be a JSON object");
  return {
    id: id.toLowerCase(),
    callId,
    seq,
    type,
    source: source as ActivitySource,
    time: new Date(time).toISOString(),
    data: data as JsonObject,
  };
}

/** The wire form of an event: its JSON, UTF-8 encoded. */
export function encodeActivityEvent(event: ActivityEvent<object>): Uint8Array {
  return encoder.encode(JSON.stringify(event));
}
