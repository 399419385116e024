import type { Request, Response } from "express";
import { anthropicFormat } from "./anthropic";
import { resolveScript, ScriptError, type MockScript } from "./script";

type JsonObject = Record<string, unknown>;

/** What the batch routes need from the mock around them. */
export interface BatchRoutesOptions {
  /** The next call number (also used for message ids, `msg_mock_<n>`). */
  nextCallId(): number;
  /**
   * The script for one request of a batch: the `x-mock-script` header's when the create call had one, else the next
   * queued, else the default. @throws ScriptError when the header's script is malformed
   */
  takeScript(req: Request): MockScript;
  /** Records the call (its parsed JSON body, or null). */
  record(req: Request, body: unknown, status: number): void;
  /** Batches kept; the oldest are forgotten past it. */
  maxBatches: number;
}

/** The mock's Anthropic Message Batches routes, mounted by `createMockLlm`. */
export interface BatchRoutes {
  create(req: Request, res: Response): void;
  list(req: Request, res: Response): void;
  retrieve(req: Request, res: Response): void;
  results(req: Request, res: Response): void;
  cancel(req: Request, res: Response): void;
  remove(req: Request, res: Response): void;
  /** Forgets every batch (`POST /_mock/reset`). */
  reset(): void;
}

interface StoredBatch {
  batch: JsonObject;
  /** One JSON line per request, in request order. */
  lines: string[];
}

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

const notFound = (res: Response, id: string): void => {
  res.status(404).json(anthropicFormat.errorBody(404, undefined, `mock-llm: no message batch ${JSON.stringify(id)}`));
};

/**
 * Anthropic Message Batches, processed at once: `POST /v1/messages/batches` answers every request with the script
 * queue exactly as `POST /v1/messages` would answer it as JSON (a scripted error makes that request `errored`), and
 * returns a batch that has already ended (`msgbatch_mock_<n>`), whose `results_url` is absolute and points at this
 * mock (from the request's Host). Then `GET …/{id}` and the list, `GET …/{id}/results` (JSONL, request order),
 * `POST …/{id}/cancel` (an ended batch stays as it is) and `DELETE …/{id}`. Unknown ids get 404.
 */
export function createBatchRoutes(options: BatchRoutesOptions): BatchRoutes {
  const batches = new Map<string, StoredBatch>();
  let nextBatch = 1;

  const find = (req: Request, res: Response): StoredBatch | undefined => {
    const id = String(req.params["batchId"]);
    const stored = batches.get(id);
    options.record(req, null, stored === undefined ? 404 : 200);
    if (stored === undefined) notFound(res, id);
    return stored;
  };

  const answer = (params: JsonObject, script: MockScript, bytes: number): JsonObject => {
    const callId = options.nextCallId();
    const resolved = resolveScript(script, { callId, toolIdPrefix: anthropicFormat.toolIdPrefix, requestBytes: bytes });
    const model = typeof params["model"] === "string" ? params["model"] : "mock-model";
    if (resolved.error !== undefined) {
      const { status, type, message } = resolved.error;
      const body = anthropicFormat.errorBody(status, type, message ?? `mock-llm: scripted ${status} error`) as JsonObject;
      return { type: "errored", error: { ...body, request_id: `req_mock_${callId}` } };
    }
    const rendered = anthropicFormat.json({ callId, model, created: Math.floor(Date.now() / 1000), request: params, script: resolved });
    if (rendered.status !== 200) return { type: "errored", error: { ...(rendered.body as JsonObject), request_id: `req_mock_${callId}` } };
    return { type: "succeeded", message: rendered.body };
  };

  return {
    create(req, res) {
      const raw: unknown = req.body;
      let body: unknown = null;
      try {
        body = JSON.parse(Buffer.isBuffer(raw) ? raw.toString("utf8") : "");
      } catch {
        body = null;
      }
      const requests = isObject(body) ? body["requests"] : undefined;
      if (!Array.isArray(requests) || requests.length === 0 || !requests.every((r) => isObject(r) && typeof r["custom_id"] === "string" && isObject(r["params"]))) {
        options.record(req, body, 400);
        res.status(400).json(anthropicFormat.errorBody(400, undefined, "mock-llm: `requests` must be a non-empty list of {custom_id, params}"));
        return;
      }
      let scripts: MockScript[];
      try {
        scripts = requests.map(() => options.takeScript(req));
      } catch (err) {
        if (!(err instanceof ScriptError)) throw err;
        options.record(req, body, 400);
        res.status(400).json(anthropicFormat.errorBody(400, undefined, `mock-llm: ${err.message}`));
        return;
      }
      options.record(req, body, 200);
      const id = `msgbatch_mock_${nextBatch++}`;
      const lines: string[] = [];
      const counts = { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
      for (const [i, r] of (requests as JsonObject[]).entries()) {
        const params = r["params"] as JsonObject;
        const result = answer(params, scripts[i] as MockScript, Buffer.byteLength(JSON.stringify(params)));
        counts[result["type"] === "succeeded" ? "succeeded" : "errored"] += 1;
        lines.push(JSON.stringify({ custom_id: r["custom_id"], result }));
      }
      const now = new Date();
      const batch: JsonObject = {
        id,
        type: "message_batch",
        processing_status: "ended",
        request_counts: counts,
        created_at: now.toISOString(),
        ended_at: now.toISOString(),
        expires_at: new Date(now.getTime() + 24 * 3600 * 1000).toISOString(),
        archived_at: null,
        cancel_initiated_at: null,
        results_url: `${req.protocol}://${req.get("host") ?? "127.0.0.1"}/v1/messages/batches/${id}/results`,
      };
      batches.set(id, { batch, lines });
      for (const old of batches.keys()) {
        if (batches.size <= options.maxBatches) break;
        batches.delete(old);
      }
      res.json(batch);
    },
    list(req, res) {
      options.record(req, null, 200);
      const limit = Math.min(Math.max(Number.parseInt(String(req.query["limit"] ?? "20"), 10) || 20, 1), 1000);
      // Newest first, as Anthropic lists them; `after_id` pages on from an id.
      let all = [...batches.values()].map((b) => b.batch).reverse();
      const after = req.query["after_id"];
      if (typeof after === "string") all = all.slice(all.findIndex((b) => b["id"] === after) + 1);
      const data = all.slice(0, limit);
      res.json({ data, has_more: all.length > limit, first_id: data[0]?.["id"] ?? null, last_id: data.at(-1)?.["id"] ?? null });
    },
    retrieve(req, res) {
      const stored = find(req, res);
      if (stored !== undefined) res.json(stored.batch);
    },
    results(req, res) {
      const stored = find(req, res);
      if (stored === undefined) return;
      res.status(200).type("application/x-jsonl");
      res.end(stored.lines.map((l) => `${l}\n`).join(""));
    },
    cancel(req, res) {
      const stored = find(req, res);
      if (stored === undefined) return;
      // Processing ended at creation: there is nothing left to cancel, so the batch is answered unchanged.
      res.json(stored.batch);
    },
    remove(req, res) {
      const stored = find(req, res);
      if (stored === undefined) return;
      batches.delete(String(stored.batch["id"]));
      res.json({ id: stored.batch["id"], type: "message_batch_deleted" });
    },
    reset: () => batches.clear(),
  };
}
