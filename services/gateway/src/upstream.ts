import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import {
  ConversionError,
  anthropicMessageToOpenAI,
  anthropicMessageToResponse,
  anthropicRequestToOpenAI,
  createAnthropicToOpenAIStream,
  createAnthropicToResponsesStream,
  createOpenAIToAnthropicStream,
  openAICompletionToAnthropic,
  openAIRequestToAnthropic,
  responsesRequestToAnthropic,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionCreateParams,
  type Message,
  type MessageCreateParams,
  type RawMessageStreamEvent,
  type ResponsesRequest,
  type ResponsesResponse,
  type ResponsesStreamEvent,
  type SseMessage,
} from "@luthien/wire";
import type { ChatCompletionCreateParamsNonStreaming } from "openai/resources/chat/completions";
import type { MessageCreateParamsNonStreaming } from "@anthropic-ai/sdk/resources/messages";
import type { Logger } from "@luthien/runtime";
import type { UpstreamCredential } from "./auth";
import type { ClientFormat } from "./client-api";
import { InvalidRequestError } from "./errors";
import { createHttpFetch } from "./http-fetch";
import type { ProviderConfig } from "./routing";

export interface UpstreamCallOptions {
  signal: AbortSignal;
  credential: UpstreamCredential;
  /** Client headers forwarded unchanged to an Anthropic-format provider (`anthropic-version`, `anthropic-beta`). */
  forwardHeaders: Record<string, string>;
}

/**
 * A provider as one client API sees it: bodies and events go in and come out in the *client's* format, and are
 * translated at this edge only when the provider speaks the other one.
 */
export interface Upstream {
  readonly provider: ProviderConfig;
  /** A whole response body, in the client's format. */
  complete(body: object, options: UpstreamCallOptions): Promise<object>;
  /**
   * Resolves once the provider has answered (so its 4xx/5xx arrives before any byte goes to the client), with the
   * stream's events in the client's format.
   */
  stream(body: object, options: UpstreamCallOptions): Promise<AsyncIterable<SseMessage>>;
}

export interface Upstreams {
  for(provider: ProviderConfig, clientFormat: ClientFormat): Upstream;
}

/** One provider in its own wire format, through its official SDK. */
interface NativeProvider<Req, Res, Event> {
  complete(body: Req, options: UpstreamCallOptions): Promise<Res>;
  stream(body: Req, options: UpstreamCallOptions): Promise<AsyncIterable<Event>>;
}

/** Options of {@link createUpstreams}. */
export interface UpstreamsOptions {
  /** Provider request timeout (UPSTREAM_TIMEOUT_MS). */
  timeoutMs: number;
  /** Where the provider SDKs' own warnings go, labelled. @default nowhere */
  logger?: Logger;
}

/** The `logger` option both SDKs take: a message, then details (dropped here: they may carry request contents). */
interface SdkLogger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
}

function sdkLogger(sdk: "openai" | "anthropic", logger: Logger | undefined): SdkLogger {
  return {
    error: (message) => logger?.error("provider sdk error", { sdk, message }),
    warn: (message) => logger?.warn("provider sdk warning", { sdk, message }),
    // Below warn the SDKs describe requests (headers, bodies): never logged, whatever ANTHROPIC_LOG/OPENAI_LOG say.
    info: () => undefined,
    debug: () => undefined,
  };
}

/**
 * Runs a synchronous SDK call with its `console.warn` output going to the gateway's logger instead, once per model
 * and warning. The Anthropic SDK warns that a model is deprecated (or that `thinking.type=enabled` is) with
 * `console.warn` inside `messages.create`, past its `logger` option: an unlabelled stderr line on every call of such
 * a model — every Claude Code turn. The warnings name models from the SDK's own lists, so the set stays small.
 */
function createSdkWarnings(logger: Logger | undefined): <T>(model: unknown, call: () => T) => T {
  const seen = new Set<string>();
  return (model, call) => {
    const original = console.warn;
    console.warn = (...args: unknown[]) => {
      const warning = args.map(String).join(" ");
      const key = `${String(model)}\n${warning}`;
      if (seen.has(key)) return;
      seen.add(key);
      logger?.warn("provider sdk warning", { sdk: "anthropic", model: typeof model === "string" ? model.slice(0, 200) : undefined, warning });
    };
    // `create` warns before its first await, so the swap covers exactly this call and nothing else runs meanwhile.
    try {
      return call();
    } finally {
      console.warn = original;
    }
  };
}

/** SDK clients are made once per provider and reused: connection pools are what make calls cheap. */
export function createUpstreams(options: UpstreamsOptions): Upstreams {
  const fetch = createHttpFetch();
  const sdkWarnings = createSdkWarnings(options.logger);
  const clients = new Map<string, OpenAI>();
  const openai = new Map<string, NativeProvider<ChatCompletionCreateParams, ChatCompletion, ChatCompletionChunk>>();
  const responses = new Map<string, NativeProvider<ResponsesRequest, ResponsesResponse, ResponsesStreamEvent>>();
  const anthropic = new Map<string, NativeProvider<MessageCreateParams, Message, RawMessageStreamEvent>>();

  const openaiClient = (p: ProviderConfig): OpenAI => {
    let client = clients.get(p.name);
    if (client === undefined) {
      // The OpenAI client insists on a key; an OpenAI-compatible server without auth ignores the placeholder.
      client = new OpenAI({ apiKey: p.apiKey ?? "no-key", baseURL: p.baseUrl, maxRetries: 0, timeout: options.timeoutMs, fetch, logger: sdkLogger("openai", options.logger), logLevel: "warn" });
      clients.set(p.name, client);
    }
    return client;
  };
  const openaiOptions = (o: UpstreamCallOptions) => ({ signal: o.signal, headers: openaiAuth(o.credential) });
  const openaiFor = (p: ProviderConfig): NativeProvider<ChatCompletionCreateParams, ChatCompletion, ChatCompletionChunk> => {
    let native = openai.get(p.name);
    if (native === undefined) {
      const client = openaiClient(p);
      const opts = openaiOptions;
      native = {
        // The body goes as the client sent it: adding even `stream: false` would change what the provider sees.
        complete: (body, o) => client.chat.completions.create(body as ChatCompletionCreateParamsNonStreaming, opts(o)),
        stream: (body, o) => client.chat.completions.create({ ...body, stream: true }, opts(o)),
      };
      openai.set(p.name, native);
    }
    return native;
  };
  const responsesFor = (p: ProviderConfig): NativeProvider<ResponsesRequest, ResponsesResponse, ResponsesStreamEvent> => {
    let native = responses.get(p.name);
    if (native === undefined) {
      const client = openaiClient(p);
      native = {
        // `post` rather than `responses.create`: the SDK adds an `output_text` convenience field the wire does not have.
        complete: (body, o) => client.post<ResponsesResponse>("/responses", { body, ...openaiOptions(o) }),
        stream: (body, o) => client.responses.create({ ...body, stream: true }, openaiOptions(o)),
      };
      responses.set(p.name, native);
    }
    return native;
  };
  const anthropicFor = (p: ProviderConfig): NativeProvider<MessageCreateParams, Message, RawMessageStreamEvent> => {
    let native = anthropic.get(p.name);
    if (native === undefined) {
      // Credentials go per request (the server's key, or the caller's own in passthrough), never from the env.
      const client = new Anthropic({
        apiKey: null,
        authToken: null,
        baseURL: p.baseUrl,
        maxRetries: 0,
        timeout: options.timeoutMs,
        fetch,
        logger: sdkLogger("anthropic", options.logger),
        logLevel: "warn",
      });
      const opts = (o: UpstreamCallOptions) => ({ signal: o.signal, headers: { ...o.forwardHeaders, ...anthropicAuth(p, o.credential) } });
      native = {
        complete: (body, o) => sdkWarnings(body.model, () => client.messages.create(body as MessageCreateParamsNonStreaming, opts(o))),
        stream: (body, o) => sdkWarnings(body.model, () => client.messages.create({ ...body, stream: true }, opts(o))),
      };
      anthropic.set(p.name, native);
    }
    return native;
  };

  const openaiSse = (c: ChatCompletionChunk): SseMessage => ({ data: JSON.stringify(c) });
  /** Anthropic and Responses events are named by their type. */
  const namedSse = (e: { type: string }): SseMessage => ({ event: e.type, data: JSON.stringify(e) });
  const anthropicSse = namedSse;

  return {
    for(provider, clientFormat) {
      if (clientFormat === "responses") {
        if (provider.format === "openai") {
          const native = responsesFor(provider);
          return {
            provider,
            complete: (body, o) => native.complete(body as ResponsesRequest, o),
            stream: async (body, o) => mapEvents(await native.stream(body as ResponsesRequest, o), (e) => [namedSse(e)], () => []),
          };
        }
        // A Responses client on an Anthropic-format provider: stateless, translated both ways.
        const native = anthropicFor(provider);
        return {
          provider,
          async complete(body, o) {
            const request = body as ResponsesRequest;
            return anthropicMessageToResponse(await native.complete(translate(() => responsesRequestToAnthropic(request)), o), { request });
          },
          async stream(body, o) {
            const request = body as ResponsesRequest;
            const s = await native.stream(translate(() => responsesRequestToAnthropic(request)), o);
            const conv = createAnthropicToResponsesStream({ request });
            return mapEvents(s, (e) => conv.push(e).map(namedSse), () => conv.end().map(namedSse));
          },
        };
      }
      if (provider.format === "openai" && clientFormat === "openai") {
        const native = openaiFor(provider);
        return {
          provider,
          complete: (body, o) => native.complete(body as ChatCompletionCreateParams, o),
          stream: async (body, o) => mapEvents(await native.stream(body as ChatCompletionCreateParams, o), (c) => [openaiSse(c)], () => []),
        };
      }
      if (provider.format === "anthropic" && clientFormat === "anthropic") {
        const native = anthropicFor(provider);
        return {
          provider,
          complete: (body, o) => native.complete(body as MessageCreateParams, o),
          stream: async (body, o) => mapEvents(await native.stream(body as MessageCreateParams, o), (e) => [anthropicSse(e)], () => []),
        };
      }
      if (provider.format === "openai") {
        // An Anthropic client on an OpenAI-compatible provider.
        const native = openaiFor(provider);
        return {
          provider,
          async complete(body, o) {
            const c = await native.complete(translate(() => anthropicRequestToOpenAI(body as MessageCreateParams)), o);
            return openAICompletionToAnthropic(c, { model: (body as MessageCreateParams).model });
          },
          async stream(body, o) {
            const s = await native.stream(translate(() => anthropicRequestToOpenAI(body as MessageCreateParams)), o);
            const conv = createOpenAIToAnthropicStream({ model: (body as MessageCreateParams).model });
            return mapEvents(s, (c) => conv.push(c).map(anthropicSse), () => conv.end().map(anthropicSse));
          },
        };
      }
      // An OpenAI client on an Anthropic-format provider.
      const native = anthropicFor(provider);
      return {
        provider,
        complete: async (body, o) => anthropicMessageToOpenAI(await native.complete(translate(() => openAIRequestToAnthropic(body as ChatCompletionCreateParams)), o)),
        async stream(body, o) {
          const req = body as ChatCompletionCreateParams;
          const s = await native.stream(translate(() => openAIRequestToAnthropic(req)), o);
          const conv = createAnthropicToOpenAIStream({ includeUsage: req.stream_options?.include_usage === true });
          return mapEvents(s, (e) => conv.push(e).map(openaiSse), () => conv.end().map(openaiSse));
        },
      };
    },
  };
}

/**
 * Translates a client's request for a provider of the other format. The converters type-check what they map
 * (ConversionError names the field); anything else they trip over is a request of a shape the client's own API
 * would refuse too, so it is the client's error (400), not the gateway's.
 */
function translate<T>(convert: () => T): T {
  try {
    return convert();
  } catch (err) {
    if (err instanceof ConversionError) throw err;
    throw new InvalidRequestError("the request does not have the shape its API expects, so it cannot be translated for this model's provider", 400, { cause: err });
  }
}

async function* mapEvents<T>(source: AsyncIterable<T>, map: (item: T) => SseMessage[], end: () => SseMessage[]): AsyncGenerator<SseMessage> {
  for await (const item of source) yield* map(item);
  yield* end();
}

/** Headers that replace the OpenAI client's default key when the caller's own credential goes upstream. */
function openaiAuth(credential: UpstreamCredential): Record<string, string> | undefined {
  if (credential.kind === "server") return undefined;
  return { authorization: `Bearer ${credential.value}` };
}

/**
 * The auth headers of a plain HTTP request to `provider` (passthrough, count_tokens), where no SDK adds the server's
 * key: the same rules as the SDK calls.
 */
export function providerAuthHeaders(provider: ProviderConfig, credential: UpstreamCredential): Record<string, string> {
  const auth =
    provider.format === "anthropic"
      ? anthropicAuth(provider, credential)
      : (openaiAuth(credential) ?? (provider.apiKey !== undefined ? { authorization: `Bearer ${provider.apiKey}` } : {}));
  return Object.fromEntries(Object.entries(auth).filter((e): e is [string, string] => e[1] !== null));
}

/** Anthropic auth: API keys travel as `x-api-key`, OAuth tokens as `Authorization: Bearer`, as they came. */
export function anthropicAuth(provider: ProviderConfig, credential: UpstreamCredential): Record<string, string | null> {
  switch (credential.kind) {
    case "server":
      return provider.apiKey !== undefined ? { "x-api-key": provider.apiKey, authorization: null } : { authorization: null };
    case "api-key":
      return { "x-api-key": credential.value, authorization: null };
    case "bearer":
      return { authorization: `Bearer ${credential.value}` };
  }
}
