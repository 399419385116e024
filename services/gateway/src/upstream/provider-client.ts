import * as http from "node:http";
import * as https from "node:https";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import type { UpstreamCredential } from "../identity/auth";
import { ClientGoneError, UpstreamTimeoutError, UpstreamUnreachableError } from "../errors";
import type { ProviderConfig } from "./routing";

/** The API version an Anthropic request carries when its client named none (what the official SDK sends). */
export const DEFAULT_ANTHROPIC_VERSION = "2023-06-01";

/** Provider error bodies are read whole (to report them); one larger than this is cut (errors are small). */
const MAX_ERROR_BODY_BYTES = 1024 * 1024;

/** One provider request. */
export interface ProviderRequest {
  provider: ProviderConfig;
  /** Under the provider's API root: `/chat/completions`, `/responses` (OpenAI format) or `/messages` (Anthropic). */
  path: "/chat/completions" | "/responses" | "/messages";
  body: Buffer;
  stream: boolean;
  credential: UpstreamCredential;
  /** Client headers an Anthropic-format provider gets unchanged (`anthropic-version`, `anthropic-beta`). */
  forwardHeaders: Record<string, string>;
  signal: AbortSignal;
}

export interface ProviderClientOptions {
  /** How long a provider may take to send its response headers (UPSTREAM_TIMEOUT_MS). */
  timeoutMs: number;
  /** Connections per provider host. @default Infinity */
  maxSockets?: number;
}

/**
 * Sends a provider request and resolves with its successful response, unread: the body's bytes are what the
 * gateway passes on. A status of 400 and up is thrown as the provider SDK's own error class (status, error body,
 * headers), as an SDK call would; the provider not answering in time is UpstreamTimeoutError, not being reachable
 * UpstreamUnreachableError, the signal aborting ClientGoneError.
 */
export type ProviderClient = (request: ProviderRequest) => Promise<http.IncomingMessage>;

/**
 * Calls providers over `node:http`/`node:https` with keep-alive agents: bodies go as the bytes they are, and come back
 * as a Node stream, with no SDK object model or web streams on the way.
 */
export function createProviderClient(options: ProviderClientOptions): ProviderClient {
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? Infinity };
  const agents = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };
  const urls = new Map<string, URL>();
  const urlOf = (provider: ProviderConfig, path: string): URL => {
    const key = `${provider.name}\n${path}`;
    let url = urls.get(key);
    if (url === undefined) {
      // OpenAI-format base URLs include the API root (`…/v1`); Anthropic's are the host, as the SDKs take them.
      const root = provider.baseUrl.replace(/\/+$/, "");
      url = new URL(provider.format === "anthropic" ? `${root}/v1${path}` : `${root}${path}`);
      urls.set(key, url);
    }
    return url;
  };

  return (request) => {
    const url = urlOf(request.provider, request.path);
    const secure = url.protocol === "https:";
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: request.stream ? "text/event-stream" : "application/json",
      "content-length": String(request.body.byteLength),
      ...providerAuthHeaders(request.provider, request.credential),
    };
    if (request.provider.format === "anthropic") {
      headers["anthropic-version"] = DEFAULT_ANTHROPIC_VERSION;
      Object.assign(headers, request.forwardHeaders);
    }
    return new Promise<http.IncomingMessage>((resolve, reject) => {
      let timedOut = false;
      const req = (secure ? https : http).request(url, { method: "POST", headers, agent: secure ? agents.https : agents.http, signal: request.signal });
      const timer = setTimeout(() => {
        timedOut = true;
        req.destroy();
      }, options.timeoutMs);
      req.on("error", (err) => {
        clearTimeout(timer);
        if (request.signal.aborted) reject(new ClientGoneError());
        else if (timedOut) reject(new UpstreamTimeoutError({ cause: err }));
        else reject(new UpstreamUnreachableError({ cause: err }));
      });
      req.on("response", (res) => {
        clearTimeout(timer);
        const status = res.statusCode ?? 502;
        if (status < 400) {
          resolve(res);
          return;
        }
        readCapped(res, MAX_ERROR_BODY_BYTES).then(
          (body) => reject(providerError(request.provider, status, body, res)),
          (err: unknown) => reject(request.signal.aborted ? new ClientGoneError() : new UpstreamUnreachableError({ cause: err })),
        );
      });
      req.end(request.body);
    });
  };
}

/**
 * The auth headers of a provider request: the server's key, or the caller's own credential in passthrough, in the
 * provider format's way (Anthropic API keys as `x-api-key`, OAuth tokens and OpenAI keys as `Authorization: Bearer`).
 */
export function providerAuthHeaders(provider: ProviderConfig, credential: UpstreamCredential): Record<string, string> {
  switch (credential.kind) {
    case "server":
      if (provider.apiKey === undefined) return {};
      return provider.format === "anthropic" ? { "x-api-key": provider.apiKey } : { authorization: `Bearer ${provider.apiKey}` };
    case "api-key":
      return provider.format === "anthropic" ? { "x-api-key": credential.value } : { authorization: `Bearer ${credential.value}` };
    case "bearer":
      return { authorization: `Bearer ${credential.value}` };
  }
}

/** Reads a whole response body. */
export async function readBody(res: http.IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of res) parts.push(part as Buffer);
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

async function readCapped(res: http.IncomingMessage, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of res) {
    parts.push(part as Buffer);
    size += (part as Buffer).byteLength;
    if (size >= max) {
      res.destroy();
      break;
    }
  }
  return Buffer.concat(parts).subarray(0, max);
}

/** The error the provider's SDK would have thrown for this answer, so the one mapping in errors.ts applies. */
function providerError(provider: ProviderConfig, status: number, body: Buffer, res: http.IncomingMessage): Error {
  const text = body.toString("utf8");
  let json: object | undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === "object" && parsed !== null) json = parsed;
  } catch {
    // not JSON: the text is the message
  }
  const headers = new Headers();
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string);
  const message = json === undefined ? text : undefined;
  return provider.format === "anthropic" ? Anthropic.APIError.generate(status, json, message, headers) : OpenAI.APIError.generate(status, json, message, headers);
}

/**
 * The SDK error for an error a provider reported inside a successful stream (an Anthropic `error` event, an OpenAI
 * chunk carrying `error`), as the SDKs throw it mid-stream.
 */
export function streamError(provider: ProviderConfig, error: unknown, headers: http.IncomingHttpHeaders): Error {
  const h = new Headers();
  for (const [name, v] of Object.entries(headers)) if (typeof v === "string") h.set(name, v);
  return provider.format === "anthropic" ? new Anthropic.APIError(undefined, error as object, undefined, h) : new OpenAI.APIError(undefined, error as object, undefined, h);
}
