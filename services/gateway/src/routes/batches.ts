import { once } from "node:events";
import Anthropic from "@anthropic-ai/sdk";
import type { Request, RequestHandler, Response } from "express";
import { createCallActivity, type CallActivity, type CallOutcome } from "../activity";
import type { CallAuth, UpstreamCredential } from "../identity/auth";
import { checkRequestScope, engineSelectorOf } from "../identity/scopes";
import { anthropicApi } from "../formats/client-api";
import type { EnginePool, EnginePools } from "../engine/engine-pool";
import { GatewayError, InvalidRequestError, PolicyDeniedError, PolicyUnavailableError, servableWithoutPolicy, toHttpError } from "../errors";
import { createHttpFetch } from "../upstream/http-fetch";
import type { PassthroughOptions } from "./passthrough";
import type { PolicyCall, StartInfo } from "../engine/policy-engine";
import type { BatchRouteKind } from "./route-classes";
import type { ProviderConfig } from "../upstream/routing";
import { callLocals } from "../locals";
import { providerAuthHeaders } from "../upstream/provider-client";

/** The route batch calls are decided under (engine pools and policy chains match it), creation and results alike. */
export const BATCHES_ROUTE = "/v1/messages/batches";

/** Options of {@link createBatchHandlers}. */
export interface BatchOptions extends PassthroughOptions {
  engines: EnginePools;
  /** Verdicts in flight at once: requests of a batch being created, or lines of its results (POLICY_WINDOW). */
  window: number;
  /** The longest results line read (MAX_BODY_BYTES); a longer one fails the download instead of growing memory. */
  maxLineBytes: number;
}

/**
 * The provider's batch results could not be read: a line that is not JSON, not a batch result, or longer than
 * MAX_BODY_BYTES. Before the first line went out the client gets a 502; after it, the download is cut short.
 */
export class BatchResultsError extends GatewayError {
  readonly status = 502;
  readonly type = "upstream_error";
  constructor(message: string) {
    super(message);
    this.name = "BatchResultsError";
  }
}

type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

/** Batch ids as Anthropic issues them; anything else could add path segments at the provider. */
const BATCH_ID = /^[A-Za-z0-9_-]{1,256}$/;

/** Client headers the provider sees; credentials are the gateway's to choose. */
const FORWARDED = ["anthropic-version", "anthropic-beta"];

/** `localhost`, `127.x.x.x` or `[::1]`, with an optional port: a Host that can only name the client's own machine. */
const LOOPBACK_HOST = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d{1,5})?$/i;

/** One request of a batch, as checked. */
interface BatchEntry {
  customId: string;
  params: JsonObject;
  model: string;
}

/** What every handler gets for its call. */
interface BatchCall {
  callId: string;
  auth: CallAuth;
  activity: CallActivity;
  /** Aborted when the client leaves: stops the provider request and the verdicts. */
  signal: AbortSignal;
  /** Records a policy action once per call, however many requests or lines it happened to. */
  action(name: string): void;
  /** Serves a request or line without policy when its pool fails open and the engine failed; rethrows otherwise. */
  bypass(pool: EnginePool, err: unknown): void;
  /** Opens engine call `<call id>.<n>`; it is cancelled if the batch call ends first (the client left). */
  open(pool: EnginePool, n: number): PolicyCall;
  /** Ends an engine call from {@link open}. */
  close(engine: PolicyCall, how: "done" | "cancel"): void;
}

/**
 * Anthropic Message Batches through the policies, one handler per {@link BatchRouteKind} (route-classes.ts
 * `BATCH_ROUTES` says where each is mounted; app.ts mounts them only when GATEWAY_CONFIG `batches.enabled` is set).
 *
 * - **create**: every `requests[i].params` passes the request phase exactly as a `/v1/messages` call would (format
 *   ANTHROPIC_MESSAGES, not streaming, route {@link BATCHES_ROUTE}, engine call `<call id>.<i+1>`). A deny refuses
 *   the whole batch with an Anthropic error naming the `custom_id` and the policy's message, and nothing reaches
 *   the provider; a policy that would answer a request itself refuses it too (403). Rewritten params replace the
 *   originals. Every model, before and after the policies, must route to `batches.provider` (else 400).
 * - **results**: the provider's JSONL is read line by line (at most `window` lines being decided, none longer than
 *   `maxLineBytes`) and written in order. Each `succeeded` message passes the response phase as a non-streaming
 *   Messages response (FULL when the chain asks for it) on an engine call of its own, `<call id>.<line>`; the
 *   batch's requests are not in its results, so that call's request is a stand-in with the message's model and no
 *   messages. A deny makes the line `errored` (permission_error, ...); `errored`, `canceled` and `expired` lines
 *   pass as they are; a result type the gateway does not know is withheld as `errored`.
 * - **retrieve**, **list**, **cancel**, **delete**: passed through (they carry no prompt), with every `results_url`
 *   pointing back at the gateway (see {@link gatewayResultsUrl}).
 *
 * Engine failures fail the call closed (503/504 before the answer started; a results download already under way is
 * cut short, never ended cleanly); a pool that fails open serves the request or line unchanged, marked
 * (`x-luthien-policy-bypassed` while the headers have not gone out, `policy.bypassed`, the bypass metric).
 */
export function createBatchHandlers(options: BatchOptions): Record<BatchRouteKind, RequestHandler> {
  const { routing, engines } = options;
  const provider = routing.providers.get(routing.batches.provider) as ProviderConfig;
  // Credentials go per request (the server's key, or the caller's own in passthrough), never from the env.
  const client = new Anthropic({ apiKey: null, authToken: null, baseURL: provider.baseUrl, maxRetries: 0, timeout: options.timeoutMs, fetch: createHttpFetch() });
  const headersFor = (req: Request, credential: UpstreamCredential): Record<string, string | null> => {
    const out: Record<string, string | null> = {};
    for (const name of FORWARDED) {
      const v = req.headers[name];
      if (typeof v === "string") out[name] = v;
    }
    return { ...out, ...providerAuthHeaders(provider, credential) };
  };

  /** Runs one batch call: its activity (`call.started` … `call.ended`), its abort on disconnect, its failure. */
  const withCall = async (req: Request, res: Response, start: { route: string; model: string }, run: (call: BatchCall) => Promise<void>): Promise<void> => {
    const callId = res.locals.call.id;
    const auth = callLocals(res).auth;
    const abort = new AbortController();
    const calls = new Set<PolicyCall>();
    res.on("close", () => {
      if (res.writableFinished) return;
      abort.abort();
      for (const c of calls) c.close("cancel");
    });
    const activity = createCallActivity({ sink: options.activity, callId, format: "anthropic", chunkEvents: false, startedAt: res.locals.call.receivedAt });
    activity.started({
      model: start.model,
      stream: false,
      route: start.route,
      keyId: auth.keyId,
      owner: auth.owner,
      userId: "",
      sessionId: "",
      format: "anthropic",
      provider: provider.name,
    });
    res.locals.call.started = true;
    const actions = new Set<string>();
    const call: BatchCall = {
      callId,
      auth,
      activity,
      signal: abort.signal,
      action(name) {
        if (actions.has(name)) return;
        actions.add(name);
        activity.action(name);
      },
      bypass(pool, err) {
        // A call being stopped is not an engine failure: its cancelled verdicts must not count as a bypass.
        if (abort.signal.aborted || !servableWithoutPolicy(err, pool.failureMode)) throw err;
        options.metrics.bypassed(err.reason);
        activity.bypassed(err.reason, err.message);
        if (!res.headersSent) res.set("x-luthien-policy-bypassed", err.reason);
        options.logger.warn("policy bypassed (fail-open)", { callId, reason: err.reason, error: err.message });
      },
      open(pool, n) {
        const c = pool.open(`${callId}.${n}`);
        calls.add(c);
        if (abort.signal.aborted) c.close("cancel");
        return c;
      },
      close(engine, how) {
        calls.delete(engine);
        engine.close(how);
      },
    };
    const started = performance.now();
    let status = 200;
    let outcome: CallOutcome = "ok";
    let failure: { type: string; message: string } | undefined;
    try {
      await run(call);
      status = res.statusCode;
    } catch (err) {
      if (abort.signal.aborted) {
        status = 499;
        outcome = "client_closed";
        return;
      }
      const http = toHttpError(err, { redact: options.secrets.forCaller(auth.credential) });
      status = http.status;
      outcome = err instanceof PolicyDeniedError ? "denied" : "error";
      failure = { type: http.type, message: http.message };
      if (res.headersSent) {
        // A JSONL body has no error event: cut it short, so no client mistakes it for the whole file.
        options.logger.warn("batch results cut short", { callId, status: http.status, error: http.message });
        res.destroy();
        return;
      }
      throw err;
    } finally {
      for (const c of calls) c.close("cancel");
      activity.ended({ status, outcome, ...(failure !== undefined ? { error: failure } : {}) });
      options.logger.info("batch", { callId, route: start.route, status, ms: Math.round(performance.now() - started) });
    }
  };

  /** The request phase of one request of a batch: the params to send, or a throw that refuses the whole batch. */
  const decideRequest = async (call: BatchCall, req: Request, entry: BatchEntry, i: number): Promise<JsonObject> => {
    const { userId, sessionId } = anthropicApi.identity(entry.params, req);
    const pool = engines.select(engineSelectorOf(call.auth, entry.model, BATCHES_ROUTE));
    const engine = call.open(pool, i + 1);
    const who = `requests[${i}] (custom_id ${JSON.stringify(entry.customId)})`;
    try {
      const verdict = await (await engine.askRequest(startInfo(call, req, entry.params, { userId, sessionId }))).result;
      if (verdict.action === "deny") {
        call.action("denied");
        throw new PolicyDeniedError(verdict.error.status, verdict.error.type, `${who} was refused: ${verdict.error.message}`);
      }
      if (verdict.action === "respond") {
        call.action("responded");
        throw new PolicyDeniedError(403, "permission_error", `${who}: a policy answers this request itself, so it is not sent to the provider in a batch`);
      }
      if (verdict.requestJson === undefined) return entry.params;
      call.action("request_modified");
      const rewritten = engineObject(verdict.requestJson, "rewrote a batch request");
      // Batches do not stream, whatever a rewrite says.
      if (rewritten["stream"] !== undefined && rewritten["stream"] !== false) delete rewritten["stream"];
      return rewritten;
    } catch (err) {
      call.bypass(pool, err);
      return entry.params;
    } finally {
      call.close(engine, "cancel");
    }
  };

  /** The response phase of one results line: the line to send (unchanged, rewritten, or errored). */
  const decideLine = async (call: BatchCall, req: Request, line: string, n: number): Promise<string> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new BatchResultsError(`line ${n} of the batch results is not JSON`);
    }
    const result = isObject(parsed) ? parsed["result"] : undefined;
    if (!isObject(parsed) || typeof parsed["custom_id"] !== "string" || !isObject(result) || typeof result["type"] !== "string") {
      throw new BatchResultsError(`line ${n} of the batch results is not a batch result`);
    }
    const customId = parsed["custom_id"];
    // Provider errors may echo a credential, like every error that leaves the gateway.
    if (result["type"] === "errored" || result["type"] === "canceled" || result["type"] === "expired") return options.secrets.redact(line);
    if (result["type"] !== "succeeded") {
      return erroredLine(customId, new PolicyDeniedError(502, "api_error", `the gateway withheld a batch result of type ${JSON.stringify(result["type"])}, which no policy checks`));
    }
    const message = result["message"];
    if (!isObject(message)) throw new BatchResultsError(`line ${n} of the batch results has no message`);
    const model = typeof message["model"] === "string" ? message["model"] : "";
    const pool = engines.select(engineSelectorOf(call.auth, model, BATCHES_ROUTE));
    const engine = call.open(pool, n);
    let how: "done" | "cancel" = "done";
    try {
      const verdict = await (await engine.askRequest(startInfo(call, req, standInRequest(message), { userId: "", sessionId: "" }))).result;
      if (verdict.action === "deny") {
        call.action("denied");
        return erroredLine(customId, verdict.error);
      }
      if (verdict.action === "respond") {
        call.action("responded");
        return erroredLine(customId, new PolicyDeniedError(403, "permission_error", "a policy answers this request itself, so the provider's batch result is withheld"));
      }
      if (verdict.mode === "SKIP") return line;
      const original = Buffer.from(JSON.stringify(message));
      if (verdict.mode === "OBSERVE") {
        engine.observe({ response: original });
        return line;
      }
      const answer = await (await engine.askResponse(original)).result;
      if (answer.action === "deny") {
        call.action("denied");
        return erroredLine(customId, answer.error);
      }
      if (answer.responseJson === undefined) return line;
      call.action("response_modified");
      return JSON.stringify({ ...parsed, result: { ...result, message: engineObject(answer.responseJson, "answered a batch result") } });
    } catch (err) {
      how = "cancel";
      call.bypass(pool, err);
      return line;
    } finally {
      call.close(engine, how);
    }
  };

  const relay = (kind: "retrieve" | "list" | "cancel" | "delete"): RequestHandler => {
    const route = kind === "list" ? BATCHES_ROUTE : kind === "cancel" ? `${BATCHES_ROUTE}/{id}/cancel` : `${BATCHES_ROUTE}/{id}`;
    return (req, res) =>
      withCall(req, res, { route, model: "" }, async (call) => {
        const opts = { headers: headersFor(req, call.auth.credential), signal: call.signal };
        let received: unknown;
        if (kind === "list") {
          const query: Record<string, string> = {};
          for (const name of ["limit", "before_id", "after_id"]) {
            const v = req.query[name];
            if (typeof v === "string") query[name] = v;
          }
          received = await client.get(BATCHES_ROUTE, { ...opts, query });
        } else {
          const path = `${BATCHES_ROUTE}/${batchId(req)}`;
          received = await (kind === "retrieve" ? client.get(path, opts) : kind === "cancel" ? client.post(`${path}/cancel`, opts) : client.delete(path, opts));
        }
        const toGateway = (batch: unknown): unknown => pointAtGateway(batch, req, routing.batches.publicBaseUrl);
        const sent = kind === "list" && isObject(received) && Array.isArray(received["data"]) ? { ...received, data: received["data"].map(toGateway) } : toGateway(received);
        call.activity.responses(received, sent);
        res.status(200).json(sent);
      });
  };

  return {
    create: (req, res) =>
      withCall(req, res, { route: BATCHES_ROUTE, model: modelsOf(req.body) }, async (call) => {
        const entries = readBatch(req.body);
        entries.forEach((e, i) => requireBatchProvider(e.model, `requests[${i}].params.model`));
        for (const e of entries) checkRequestScope(call.auth, e.params, e.model);
        call.activity.requestReceived(req.body);
        const requests: JsonObject[] = [];
        await inOrder(
          entries,
          options.window,
          (entry, i) => decideRequest(call, req, entry, i),
          (params) => {
            const i = requests.length;
            const model = params["model"];
            if (typeof model !== "string") throw new PolicyUnavailableError("engine_error", `policy engine rewrote requests[${i}] without a model`);
            requireBatchProvider(model, `requests[${i}].params.model (as the policies rewrote it)`);
            requests.push({ custom_id: (entries[i] as BatchEntry).customId, params });
          },
        );
        const body = { requests };
        call.activity.requestSent(body);
        const received = await client.post(BATCHES_ROUTE, { body, headers: headersFor(req, call.auth.credential), signal: call.signal });
        const sent = pointAtGateway(received, req, routing.batches.publicBaseUrl);
        call.activity.responses(received, sent);
        res.status(200).json(sent);
      }),
    results: (req, res) =>
      withCall(req, res, { route: `${BATCHES_ROUTE}/{id}/results`, model: "" }, async (call) => {
        const path = `${BATCHES_ROUTE}/${batchId(req)}/results`;
        const upstream = await client.get(path, { headers: { ...headersFor(req, call.auth.credential), accept: "application/binary" }, signal: call.signal }).asResponse();
        const type = upstream.headers.get("content-type") ?? "application/binary";
        const start = (): void => {
          if (!res.headersSent) res.status(200).type(type);
        };
        if (upstream.body !== null) {
          let n = 0;
          await inOrder(
            readLines(upstream.body, options.maxLineBytes),
            options.window,
            (line) => decideLine(call, req, line, ++n),
            async (out) => {
              start();
              if (!res.write(`${out}\n`)) await once(res, "drain", { signal: call.signal });
            },
          );
        }
        start();
        res.end();
      }),
    retrieve: relay("retrieve"),
    list: relay("list"),
    cancel: relay("cancel"),
    delete: relay("delete"),
  };

  function requireBatchProvider(model: string, at: string): void {
    const routed = routing.resolve(model);
    if (routed?.name === provider.name) return;
    const where = routed === undefined ? "no provider" : `provider ${JSON.stringify(routed.name)}`;
    throw new InvalidRequestError(
      `${at}: ${JSON.stringify(model)} routes to ${where}; every request of a batch must route to ${JSON.stringify(provider.name)}, the Anthropic-format provider batches go to`,
    );
  }
}

/** The Start of one engine call of a batch: a non-streaming Anthropic Messages call on {@link BATCHES_ROUTE}. */
function startInfo(call: BatchCall, req: Request, request: JsonObject, who: { userId: string; sessionId: string }): StartInfo {
  const headers: Record<string, string> = {};
  for (const name of anthropicApi.visibleHeaders) {
    const v = req.headers[name];
    if (typeof v === "string") headers[name] = v;
  }
  return {
    format: "ANTHROPIC_MESSAGES",
    stream: false,
    keyId: call.auth.keyId,
    owner: call.auth.owner,
    ...who,
    route: BATCHES_ROUTE,
    requestJson: Buffer.from(JSON.stringify(request)),
    headers,
  };
}

/** What a results line's engine call starts with: the batch's request is not in its results, only its model. */
function standInRequest(message: JsonObject): JsonObject {
  const usage = message["usage"];
  const output = isObject(usage) && typeof usage["output_tokens"] === "number" ? usage["output_tokens"] : 0;
  return { model: message["model"], max_tokens: Math.max(1, Math.floor(output)), messages: [] };
}

/** A results line whose message the policies refused (or the gateway withheld), in the shape of a provider error. */
function erroredLine(customId: string, err: PolicyDeniedError): string {
  const body = anthropicApi.errorBody(toHttpError(err)) as JsonObject;
  return JSON.stringify({ custom_id: customId, result: { type: "errored", error: { ...body, request_id: null } } });
}

/**
 * Where a client fetches a batch's results: through the gateway, never at the provider — the client holds a
 * gateway key, which the provider must not be sent, and the results must pass the response phase.
 * - `batches.publicBaseUrl` set: `<publicBaseUrl>/v1/messages/batches/{id}/results`.
 * - else, a loopback Host (`localhost`, `127.x.x.x`, `[::1]`, optional port): an absolute URL with that Host and the
 *   scheme of the connection itself (`X-Forwarded-*` is never read). Such a Host can only name the client's machine.
 * - else the path alone, `/v1/messages/batches/{id}/results`: the SDKs resolve it against the base URL they were
 *   given, path prefix and scheme included. A Host header is the client's to set (and a proxy's to rewrite, or to
 *   turn https into http): building an absolute URL from one would let it send the client's key to another host,
 *   or in clear text.
 */
export function gatewayResultsUrl(req: Request, id: string, publicBaseUrl: string | undefined): string {
  const path = `${BATCHES_ROUTE}/${encodeURIComponent(id)}/results`;
  if (publicBaseUrl !== undefined) return `${publicBaseUrl}${path}`;
  const host = req.headers.host;
  if (host !== undefined && LOOPBACK_HOST.test(host)) return `${req.protocol}://${host}${path}`;
  return path;
}

/** A batch object with its `results_url` (when it has one) pointing at the gateway. */
function pointAtGateway(batch: unknown, req: Request, publicBaseUrl: string | undefined): unknown {
  if (!isObject(batch) || typeof batch["id"] !== "string" || typeof batch["results_url"] !== "string") return batch;
  return { ...batch, results_url: gatewayResultsUrl(req, batch["id"], publicBaseUrl) };
}

/** The batch id of the path, which goes into the provider's path. @throws InvalidRequestError */
function batchId(req: Request): string {
  const id = req.params["batchId"];
  if (typeof id !== "string" || !BATCH_ID.test(id)) throw new InvalidRequestError("the message batch id must be letters, digits, `_` and `-`", 404);
  return id;
}

/** The models of a batch body, for `call.started`, without judging its shape (that comes after). */
function modelsOf(body: unknown): string {
  const requests = isObject(body) && Array.isArray(body["requests"]) ? (body["requests"] as unknown[]) : [];
  const models = new Set<string>();
  for (const r of requests) {
    const model = isObject(r) && isObject(r["params"]) ? r["params"]["model"] : undefined;
    if (typeof model === "string") models.add(model);
  }
  return [...models].join(",").slice(0, 200);
}

/**
 * A Message Batches create body: `requests`, a non-empty list of `{custom_id, params}` with unique ids, each
 * `params` a valid non-streaming Messages request. Nothing else is sent on, so nothing unchecked can ride along.
 * @throws InvalidRequestError naming the request
 */
function readBatch(body: unknown): BatchEntry[] {
  if (!isObject(body)) throw new InvalidRequestError("the request body must be a JSON object");
  for (const key of Object.keys(body)) {
    if (key !== "requests") throw new InvalidRequestError(`\`${key}\` is not supported in a message batch by this gateway: only \`requests\` is sent on`);
  }
  const requests = body["requests"];
  if (!Array.isArray(requests) || requests.length === 0) throw new InvalidRequestError("`requests` is required and must be a non-empty array");
  const seen = new Set<string>();
  return requests.map((r: unknown, i): BatchEntry => {
    const at = `requests[${i}]`;
    if (!isObject(r)) throw new InvalidRequestError(`\`${at}\` must be an object with \`custom_id\` and \`params\``);
    for (const key of Object.keys(r)) {
      if (key !== "custom_id" && key !== "params") throw new InvalidRequestError(`\`${at}.${key}\` is not supported in a message batch by this gateway`);
    }
    const customId = r["custom_id"];
    if (typeof customId !== "string" || customId === "") throw new InvalidRequestError(`\`${at}.custom_id\` is required and must be a string`);
    if (seen.has(customId)) throw new InvalidRequestError(`\`${at}.custom_id\` ${JSON.stringify(customId)} is used twice`);
    seen.add(customId);
    const params = r["params"];
    let checked: { model: string; stream: boolean };
    try {
      checked = anthropicApi.validate(params);
    } catch (err) {
      if (err instanceof InvalidRequestError) throw new InvalidRequestError(`${at}.params (custom_id ${JSON.stringify(customId)}): ${err.message}`, err.status, { cause: err });
      throw err;
    }
    if (checked.stream) throw new InvalidRequestError(`${at}.params (custom_id ${JSON.stringify(customId)}): \`stream\` is not supported in a message batch`);
    return { customId, params: params as JsonObject, model: checked.model };
  });
}

/** JSON the engine sent; anything but an object is the engine's failure, never the client's. */
function engineObject(json: Buffer, what: string): JsonObject {
  try {
    const value = JSON.parse(json.toString("utf8")) as unknown;
    if (isObject(value)) return value;
  } catch {
    // reported below
  }
  throw new PolicyUnavailableError("engine_error", `policy engine ${what} with something that is not a JSON object`);
}

/**
 * Runs `work` over `items` with at most `window` in flight, handing each result to `take` in the items' order
 * (`take` may wait: reading stops until it is done). The first failure stops it, once the work in flight settled.
 */
async function inOrder<T, R>(items: Iterable<T> | AsyncIterable<T>, window: number, work: (item: T, index: number) => Promise<R>, take: (result: R) => void | Promise<void>): Promise<void> {
  const inFlight: Promise<R>[] = [];
  let index = 0;
  try {
    for await (const item of items) {
      const p = work(item, index++);
      p.catch(() => undefined);
      inFlight.push(p);
      if (inFlight.length >= window) await take(await (inFlight.shift() as Promise<R>));
    }
    for (let p = inFlight.shift(); p !== undefined; p = inFlight.shift()) await take(await p);
  } finally {
    await Promise.allSettled(inFlight);
  }
}

/**
 * The non-empty lines of a JSONL body, decoded as UTF-8 once each line is whole (a character split across chunks
 * stays intact). A line longer than `maxBytes` throws instead of growing the buffer.
 */
async function* readLines(body: ReadableStream<Uint8Array>, maxBytes: number): AsyncGenerator<string> {
  let parts: Buffer[] = [];
  let size = 0;
  const tooLong = (): BatchResultsError => new BatchResultsError(`a line of the batch results is longer than ${maxBytes} bytes`);
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    let rest = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let at = rest.indexOf(10); at !== -1; at = rest.indexOf(10)) {
      if (size + at > maxBytes) throw tooLong();
      parts.push(rest.subarray(0, at));
      const line = Buffer.concat(parts).toString("utf8").replace(/\r$/, "");
      parts = [];
      size = 0;
      rest = rest.subarray(at + 1);
      if (line.trim() !== "") yield line;
    }
    size += rest.length;
    if (size > maxBytes) throw tooLong();
    if (rest.length > 0) parts.push(rest);
  }
  const last = Buffer.concat(parts).toString("utf8");
  if (last.trim() !== "") yield last;
}
