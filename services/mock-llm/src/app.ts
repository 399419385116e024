import type { AddressInfo } from "node:net";
import express, { type NextFunction, type Request, type Response } from "express";
import { createLogger, type Logger } from "@luthien/runtime";
import { anthropicFormat } from "./anthropic";
import { createBatchRoutes } from "./batches";
import { embeddingsFormat } from "./embeddings";
import type { EndpointFormat } from "./endpoint";
import { completionsFormat, openaiFormat } from "./openai";
import { responsesFormat } from "./responses";
import { parseScript, parseScriptList, resolveScript, ScriptError, type MockScript } from "./script";
import { pause, writeStream } from "./sse";

/** One provider call as received, and how its response ended. */
export interface RecordedRequest {
  /** The call's number, also in the response ids (`chatcmpl-mock-<id>`, `resp_mock_<id>`, `msg_mock_<id>`). */
  id: number;
  path: string;
  method: string;
  /** Every header as received; names lower-case. */
  headers: Record<string, string | string[]>;
  /** The parsed JSON body; null when it was not JSON. */
  body: unknown;
  /** ms since the epoch. */
  receivedAt: number;
  /** The response status, once sent. */
  status?: number;
  /** The response was written completely. */
  finished: boolean;
  /** The client's connection closed before the response was complete. */
  clientClosed: boolean;
  /** ms since the epoch when the connection closed early (set together with `clientClosed`). */
  closedAt?: number;
}

/** Options of {@link createMockLlm}. */
export interface MockLlmOptions {
  /** @default createLogger("mock-llm") */
  logger?: Logger;
  /** Used when the queue is empty and the request has no `x-mock-script` header. @default {} (the default text) */
  defaultScript?: MockScript;
  /** Keep at most this many records (the oldest go first), so a benchmark cannot grow memory without bound. @default 1000 */
  maxRecords?: number;
  /** Largest accepted request body. @default "50mb" */
  bodyLimit?: string;
  /** Message batches kept for retrieval (the oldest go first). @default 100 */
  maxBatches?: number;
}

/** A started server. */
export interface RunningMockLlm {
  /** The port actually bound (useful after listening on 0). */
  readonly port: number;
  /** Stops accepting, drops open connections (hung streams included) and resolves once the server has closed. */
  close(): Promise<void>;
}

/** A mock provider: the Express app, its script queue and records, and a way to listen. */
export interface MockLlm {
  readonly app: express.Express;
  /** Appends scripts to the FIFO queue, as `POST /_mock/scripts` does. */
  enqueue(...scripts: MockScript[]): void;
  /** The records, oldest first, as `GET /_mock/requests` returns them. */
  requests(): readonly RecordedRequest[];
  /** Clears the queue and the records, as `POST /_mock/reset` does. Call numbers keep counting. */
  reset(): void;
  /**
   * Listens on `port` (0 = any free port) and `host`.
   * @param host @default "127.0.0.1"
   * @throws when the port cannot be bound (e.g. EADDRINUSE)
   */
  listen(port: number, host?: string): Promise<RunningMockLlm>;
}

type JsonObject = Record<string, unknown>;

const SCRIPT_HEADER = "x-mock-script";

/** The scripted provider routes (all `POST`), each with the API format it answers in. */
const FORMATS: ReadonlyMap<string, EndpointFormat> = new Map([
  ["/v1/chat/completions", openaiFormat],
  ["/v1/responses", responsesFormat],
  ["/v1/completions", completionsFormat],
  ["/v1/embeddings", embeddingsFormat],
  ["/v1/messages", anthropicFormat],
]);

/**
 * Creates the mock provider. Routes:
 * - Scripted, JSON or SSE (`"stream": true`): `POST /v1/chat/completions`, `/v1/responses`, `/v1/completions`
 *   (OpenAI) and `POST /v1/messages` (Anthropic); `POST /v1/embeddings` (OpenAI, JSON only). Each call answers the
 *   `x-mock-script` header's script if present, else the next queued one, else the default.
 * - Unscripted: `POST /v1/messages/count_tokens` → `{input_tokens}` (≈ request bytes / 4); `GET /v1/models`, in
 *   Anthropic's shape when the request has an `anthropic-version` header, else OpenAI's.
 * - Anthropic Message Batches (see {@link createBatchRoutes}): `POST /v1/messages/batches` answers each request with
 *   the next script as `/v1/messages` would, and the batch has ended at once; `GET /v1/messages/batches[/{id}]`,
 *   `GET …/{id}/results` (JSONL), `POST …/{id}/cancel`, `DELETE …/{id}`.
 * - `POST /_mock/scripts` `{scripts: MockScript[]}` → `{queued}`; `POST /_mock/reset`; `GET /_mock/requests`
 *   → `{requests: RecordedRequest[]}`; `GET /health` → `{status: "ok"}`. Anything else is a 404.
 *
 * Every provider route, scripted or not, is recorded.
 */
export function createMockLlm(options: MockLlmOptions = {}): MockLlm {
  const logger = options.logger ?? createLogger("mock-llm");
  const maxRecords = options.maxRecords ?? 1000;
  const bodyLimit = options.bodyLimit ?? "50mb";
  let queue: MockScript[] = [];
  let records: RecordedRequest[] = [];
  let nextCallId = 1;

  const record = (entry: RecordedRequest): void => {
    records.push(entry);
    if (records.length > maxRecords) records.splice(0, records.length - maxRecords);
  };
  /** The `x-mock-script` header's script if present, else the next queued one, else the default. */
  const takeScript = (header: string | undefined): { script: MockScript; source: "header" | "queue" | "default" } => {
    if (header !== undefined) {
      let value: unknown;
      try {
        value = JSON.parse(header);
      } catch (err) {
        throw new ScriptError(`${SCRIPT_HEADER} is not valid JSON`, { cause: err });
      }
      return { script: parseScript(value, SCRIPT_HEADER), source: "header" };
    }
    const queued = queue.shift();
    return { script: queued ?? options.defaultScript ?? {}, source: queued === undefined ? "default" : "queue" };
  };

  const handleCall = async (format: EndpointFormat, req: Request, res: Response): Promise<void> => {
    const callId = nextCallId++;
    const raw: unknown = req.body;
    const bytes = Buffer.isBuffer(raw) ? raw : Buffer.alloc(0);
    let body: unknown = null;
    let parseFailed = false;
    try {
      body = JSON.parse(bytes.toString("utf8"));
    } catch {
      parseFailed = true;
    }
    const entry: RecordedRequest = {
      id: callId,
      path: req.path,
      method: req.method,
      headers: headersOf(req),
      body,
      receivedAt: Date.now(),
      finished: false,
      clientClosed: false,
    };
    record(entry);

    const request: JsonObject = isObject(body) ? body : {};
    const model = typeof request["model"] === "string" ? request["model"] : "mock-model";
    const streaming = request["stream"] === true;
    let scriptSource = "default";

    // Closing the connection early is the only way a call can be cut short, so one controller covers every wait.
    const closed = new AbortController();
    res.on("finish", () => {
      entry.finished = true;
    });
    res.on("close", () => {
      if (!res.writableFinished) {
        entry.clientClosed = true;
        entry.closedAt = Date.now();
      }
      closed.abort();
      logger.info("call", {
        id: callId,
        api: format.name,
        path: req.path,
        model,
        stream: streaming,
        script: scriptSource,
        status: res.headersSent ? res.statusCode : undefined,
        outcome: res.writableFinished ? "finished" : "client_closed",
        ms: Date.now() - entry.receivedAt,
      });
    });
    res.set(format.requestIdHeader, `req_mock_${callId}`);
    const send = (status: number, payload: unknown): void => {
      entry.status = status;
      res.status(status).json(payload);
    };

    if (parseFailed || !isObject(body)) {
      const what = parseFailed ? "the request body is not valid JSON" : "the request body must be a JSON object";
      send(400, format.errorBody(400, "invalid_request_error", what));
      return;
    }

    let script: MockScript;
    try {
      const taken = takeScript(req.get(SCRIPT_HEADER));
      script = taken.script;
      scriptSource = taken.source;
    } catch (err) {
      if (!(err instanceof ScriptError)) throw err;
      send(400, format.errorBody(400, "invalid_request_error", `mock-llm: ${err.message}`));
      return;
    }

    const resolved = resolveScript(script, { callId, toolIdPrefix: format.toolIdPrefix, requestBytes: bytes.length });
    if (!(await pause(resolved.delayMs, closed.signal))) return;

    if (resolved.error !== undefined) {
      const { status, type, message } = resolved.error;
      send(status, format.errorBody(status, type, message ?? `mock-llm: scripted ${status} error`));
      return;
    }
    const call = { callId, model, created: Math.floor(Date.now() / 1000), request, script: resolved };
    if (!streaming || format.stream === undefined) {
      const answer = format.json(call);
      send(answer.status, answer.body);
      return;
    }
    entry.status = 200;
    await writeStream(res, format.stream(call), {
      chunkDelayMs: resolved.chunkDelayMs,
      failAfter: resolved.failAfter,
      hangAfter: resolved.hangAfter,
      pauseAfter: resolved.pauseAfter,
      pauseMs: resolved.pauseMs,
      signal: closed.signal,
    });
  };

  const app = express();
  app.disable("x-powered-by");
  // Provider bodies are parsed by hand so that bad JSON is recorded and answered in the endpoint's own format.
  const rawBody = express.raw({ type: () => true, limit: bodyLimit });
  for (const [path, format] of FORMATS) app.post(path, rawBody, (req, res) => handleCall(format, req, res));

  // The side routes clients also call (Claude Code counts tokens, SDKs list models), answered simply and recorded.
  const recordSimple = (req: Request): void => {
    const raw: unknown = req.body;
    let body: unknown = null;
    try {
      body = Buffer.isBuffer(raw) && raw.length > 0 ? JSON.parse(raw.toString("utf8")) : null;
    } catch {
      body = null;
    }
    recordAnswered(req, body, 200);
  };
  const recordAnswered = (req: Request, body: unknown, status: number): void =>
    record({ id: nextCallId++, path: req.path, method: req.method, headers: headersOf(req), body, receivedAt: Date.now(), finished: true, clientClosed: false, status });
  app.post("/v1/messages/count_tokens", rawBody, (req, res) => {
    recordSimple(req);
    res.json({ input_tokens: Math.max(1, Math.ceil((Buffer.isBuffer(req.body) ? req.body.length : 0) / 4)) });
  });
  const batches = createBatchRoutes({
    nextCallId: () => nextCallId++,
    takeScript: (req) => takeScript(req.get(SCRIPT_HEADER)).script,
    record: recordAnswered,
    maxBatches: options.maxBatches ?? 100,
  });
  app.post("/v1/messages/batches", rawBody, batches.create);
  app.get("/v1/messages/batches", batches.list);
  app.get("/v1/messages/batches/:batchId", batches.retrieve);
  app.get("/v1/messages/batches/:batchId/results", batches.results);
  app.post("/v1/messages/batches/:batchId/cancel", batches.cancel);
  app.delete("/v1/messages/batches/:batchId", batches.remove);
  app.get("/v1/models", (req, res) => {
    recordSimple(req);
    if (req.get("anthropic-version") !== undefined) {
      res.json({
        data: [{ type: "model", id: "claude-mock-1", display_name: "Mock Claude", created_at: "2026-01-01T00:00:00Z" }],
        has_more: false,
        first_id: "claude-mock-1",
        last_id: "claude-mock-1",
      });
      return;
    }
    const created = Math.floor(Date.parse("2026-01-01T00:00:00Z") / 1000);
    res.json({
      object: "list",
      data: ["gpt-mock-1", "text-embedding-mock-1"].map((id) => ({ id, object: "model", created, owned_by: "luthien-mock" })),
    });
  });

  app.get("/health", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.post("/_mock/scripts", express.json({ limit: bodyLimit }), (req, res) => {
    let scripts: MockScript[];
    try {
      scripts = parseScriptList(req.body);
    } catch (err) {
      if (!(err instanceof ScriptError)) throw err;
      res.status(400).json({ error: { message: err.message, type: "invalid_request_error" } });
      return;
    }
    queue.push(...scripts);
    res.json({ queued: queue.length });
  });
  app.post("/_mock/reset", (_req, res) => {
    queue = [];
    records = [];
    batches.reset();
    res.json({ status: "ok" });
  });
  app.get("/_mock/requests", (_req, res) => {
    res.json({ requests: records });
  });
  app.use((req, res) => {
    res.status(404).json({ error: { message: `no route for ${req.method} ${req.path}`, type: "not_found_error" } });
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) {
      // Mid-stream there is no way to report it; cut the response so the client sees a broken stream, not a clean end.
      res.destroy();
      return;
    }
    const status = statusOf(err);
    const message = status === 500 ? "mock-llm: internal error" : err instanceof Error ? err.message : String(err);
    if (status === 500) logger.error("unhandled", { path: req.path, error: err instanceof Error ? err.message : String(err) });
    const format = FORMATS.get(req.path);
    res.status(status).json(format?.errorBody(status, undefined, message) ?? { error: { message, type: status === 500 ? "api_error" : "invalid_request_error" } });
  });

  return {
    app,
    enqueue: (...scripts) => {
      queue.push(...scripts);
    },
    requests: () => records,
    reset: () => {
      queue = [];
      records = [];
      batches.reset();
    },
    listen: (port, host = "127.0.0.1") =>
      new Promise((resolve, reject) => {
        const server = app.listen(port, host);
        server.once("error", reject);
        server.once("listening", () => {
          server.off("error", reject);
          resolve({
            port: (server.address() as AddressInfo).port,
            close: () =>
              new Promise<void>((done, fail) => {
                server.close((err) => (err === undefined ? done() : fail(err)));
                // Hung and slow streams would otherwise keep close() waiting forever.
                server.closeAllConnections();
              }),
          });
        });
      }),
  };
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function headersOf(req: Request): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** The status a body-parser error carries (400 bad JSON, 413 too large, 415 bad charset), else 500. */
function statusOf(err: unknown): number {
  if (typeof err === "object" && err !== null && "status" in err) {
    const status = (err as { status: unknown }).status;
    if (typeof status === "number" && status >= 400 && status < 600) return status;
  }
  return 500;
}
