import { ActivityEventTypes, policyActionOf, type ActivityEvent, type JsonValue } from "@luthien/events";

/** What a set of a call's events contributes to its `calls` row. Undefined fields leave the row as it is. */
export interface CallPatch {
  callId: string;
  startedAt: Date;
  lastEventAt: Date;
  endedAt?: Date;
  model?: string;
  keyId?: string;
  owner?: string;
  userId?: string;
  sessionId?: string;
  format?: string;
  provider?: string;
  route?: string;
  stream?: boolean;
  status?: number;
  outcome?: string;
  latencyMs?: number;
  ttftMs?: number;
  usage?: JsonValue;
  inputTokens?: number;
  outputTokens?: number;
  costUsd?: number;
  chunksIn?: number;
  chunksOut?: number;
  policyActions: string[];
  bypassed?: string;
  engine?: string;
  chain?: string;
  configVersion?: string;
  errorType?: string;
  errorMessage?: string;
  eventCount: number;
  requestReceivedId?: string;
  requestSentId?: string;
  responseReceivedId?: string;
  responseSentId?: string;
  searchText: string;
}

/** Longest search text one batch adds to a call; the row keeps at most {@link MAX_SEARCH_TEXT}. */
const MAX_SEARCH_PER_BODY = 16 * 1024;
export const MAX_SEARCH_TEXT = 64 * 1024;

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const int = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? Math.max(-2147483648, Math.min(2147483647, Math.round(v))) : undefined);
const bool = (v: unknown): boolean | undefined => (typeof v === "boolean" ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

// Keys whose strings are not prose: signatures, base64 payloads, ids and enums would only pollute search.
const SKIP_KEYS = new Set([
  "signature",
  "data",
  "id",
  "type",
  "role",
  "media_type",
  "tool_use_id",
  "tool_call_id",
  "stop_reason",
  "finish_reason",
  "object",
  "system_fingerprint",
  "cache_control",
]);

/** The prose of a request or response body (any format): every string not under a key in SKIP_KEYS, capped. */
export function textOf(body: unknown, max = MAX_SEARCH_PER_BODY): string {
  const parts: string[] = [];
  let size = 0;
  const visit = (v: unknown): void => {
    if (size >= max) return;
    if (typeof v === "string") {
      if (v.startsWith("data:")) return;
      parts.push(v);
      size += v.length + 1;
    } else if (Array.isArray(v)) {
      for (const x of v) visit(x);
    } else if (typeof v === "object" && v !== null) {
      for (const [k, x] of Object.entries(v)) if (!SKIP_KEYS.has(k)) visit(x);
    }
  };
  visit(body);
  return parts.join(" ").slice(0, max);
}

/**
 * Folds one call's newly stored events (any order, any subset) into a patch. The database merges patches with
 * order-independent rules, so folding batch by batch gives the same row as folding everything at once.
 */
export function summarize(callId: string, evs: readonly ActivityEvent[]): CallPatch {
  let startedAt = Infinity;
  let lastEventAt = -Infinity;
  const p: CallPatch = { callId, startedAt: new Date(0), lastEventAt: new Date(0), policyActions: [], eventCount: evs.length, searchText: "" };
  const actions = new Set<string>();
  const search: string[] = [];
  for (const e of evs) {
    const t = Date.parse(e.time);
    startedAt = Math.min(startedAt, t);
    lastEventAt = Math.max(lastEventAt, t);
    const d = e.data as Record<string, unknown>;
    const action = policyActionOf(e.type);
    if (action !== undefined) actions.add(action);
    switch (e.type) {
      case ActivityEventTypes.CallStarted: {
        const set = <K extends keyof CallPatch>(k: K, v: CallPatch[K] | undefined): void => {
          if (v !== undefined) p[k] = v;
        };
        set("model", str(d["model"]));
        set("keyId", str(d["keyId"]));
        set("owner", str(d["owner"]));
        set("userId", str(d["userId"]));
        set("sessionId", str(d["sessionId"]));
        set("format", str(d["format"]));
        set("provider", str(d["provider"]));
        set("route", str(d["route"]));
        set("stream", bool(d["stream"]));
        search.push(callId, ...[d["model"], d["keyId"], d["owner"], d["userId"], d["sessionId"], d["provider"]].filter((x): x is string => typeof x === "string"));
        break;
      }
      case ActivityEventTypes.RequestReceived:
        p.requestReceivedId = e.id;
        search.push(textOf(d["body"]));
        break;
      case ActivityEventTypes.RequestSent:
        p.requestSentId = e.id;
        break;
      case ActivityEventTypes.ResponseReceived:
        p.responseReceivedId = e.id;
        search.push(textOf(d["body"]));
        break;
      case ActivityEventTypes.ResponseSent:
        p.responseSentId = e.id;
        search.push(textOf(d["body"]));
        break;
      case ActivityEventTypes.CallEnded: {
        p.endedAt = new Date(t);
        const status = int(d["status"]);
        if (status !== undefined) p.status = status;
        const outcome = str(d["outcome"]);
        if (outcome !== undefined) p.outcome = outcome;
        const latency = int(d["latencyMs"]);
        if (latency !== undefined) p.latencyMs = latency;
        const ttft = int(d["ttftMs"]);
        if (ttft !== undefined) p.ttftMs = ttft;
        const usage = obj(d["usage"]);
        if (usage !== undefined) {
          p.usage = usage as JsonValue;
          const inTok = int(usage["inputTokens"]);
          const outTok = int(usage["outputTokens"]);
          if (inTok !== undefined) p.inputTokens = inTok;
          if (outTok !== undefined) p.outputTokens = outTok;
        }
        const cost = d["costUsd"];
        if (typeof cost === "number" && Number.isFinite(cost) && cost >= 0) p.costUsd = cost;
        const chunksIn = int(d["chunksIn"]);
        if (chunksIn !== undefined) p.chunksIn = chunksIn;
        const chunksOut = int(d["chunksOut"]);
        if (chunksOut !== undefined) p.chunksOut = chunksOut;
        if (Array.isArray(d["policyActions"])) for (const a of d["policyActions"]) if (typeof a === "string") actions.add(a);
        const bypassed = str(d["bypassed"]);
        if (bypassed !== undefined) p.bypassed = bypassed;
        const error = obj(d["error"]);
        if (error !== undefined) {
          const type = str(error["type"]);
          const message = str(error["message"]);
          if (type !== undefined) p.errorType = type;
          if (message !== undefined) {
            p.errorMessage = message.slice(0, 2000);
            search.push(message);
          }
        }
        break;
      }
      case ActivityEventTypes.CallEngine: {
        const engine = str(d["engine"]);
        const chain = str(d["chain"]);
        const version = str(d["configVersion"]);
        if (engine !== undefined) p.engine = engine.slice(0, 200);
        if (chain !== undefined) p.chain = chain.slice(0, 200);
        if (version !== undefined) p.configVersion = version.slice(0, 64);
        break;
      }
      case ActivityEventTypes.PolicyBypassed: {
        const reason = str(d["reason"]);
        if (reason !== undefined) p.bypassed = reason;
        break;
      }
      default:
        break;
    }
  }
  p.startedAt = new Date(startedAt);
  p.lastEventAt = new Date(lastEventAt);
  p.policyActions = [...actions].sort();
  p.searchText = search
    .filter((s) => s !== "")
    .join("\n")
    .slice(0, MAX_SEARCH_TEXT);
  return p;
}
