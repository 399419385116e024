import type { IncomingMessage } from "node:http";
import {
  ConversionError,
  SSE_DONE,
  StreamEvent,
  anthropicMessageToOpenAI,
  anthropicMessageToResponse,
  anthropicRequestToOpenAI,
  createAnthropicToOpenAIStream,
  createAnthropicToResponsesStream,
  createOpenAIToAnthropicStream,
  decodeStreamEvents,
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
} from "@luthien/wire";
import type { UpstreamCredential } from "../identity/auth";
import type { ClientFormat } from "../formats/client-api";
import { InvalidRequestError, UpstreamInvalidResponseError } from "../errors";
import { JsonBody } from "../formats/json-body";
import { createProviderClient, readBody, streamError, type ProviderClient, type ProviderRequest } from "./provider-client";
import type { ProviderConfig } from "./routing";

export interface UpstreamCallOptions {
  signal: AbortSignal;
  credential: UpstreamCredential;
  /** Client headers forwarded unchanged to an Anthropic-format provider (`anthropic-version`, `anthropic-beta`). */
  forwardHeaders: Record<string, string>;
}

/**
 * A provider as one client API sees it: bodies and events go in and come out in the *client's* format, and are
 * translated at this edge only when the provider speaks the other one. In the same format, the client's bytes go to
 * the provider and the provider's bytes come back, each parsed once, for whoever reads them.
 */
export interface Upstream {
  readonly provider: ProviderConfig;
  /** Whether bodies and events cross this edge unchanged (the provider speaks the client's format). */
  readonly native: boolean;
  /** A whole response body, in the client's format. */
  complete(body: JsonBody, options: UpstreamCallOptions): Promise<JsonBody>;
  /**
   * Resolves once the provider has answered (so its 4xx/5xx arrives before any byte goes to the client), with the
   * stream's events in the client's format. A native stream's events are the provider's own, OpenAI's `[DONE]`
   * included; a translated one has none. An error the provider reports inside the stream is thrown, as its SDK would.
   */
  stream(body: JsonBody, options: UpstreamCallOptions): Promise<AsyncIterable<StreamEvent>>;
}

export interface Upstreams {
  for(provider: ProviderConfig, clientFormat: ClientFormat): Upstream;
}

/** Options of {@link createUpstreams}. */
export interface UpstreamsOptions {
  /** Provider request timeout (UPSTREAM_TIMEOUT_MS). */
  timeoutMs: number;
}

const PATHS: Record<ClientFormat, ProviderRequest["path"]> = { openai: "/chat/completions", anthropic: "/messages", responses: "/responses" };

/** One HTTP client (with its connection pools) for every provider: pools are what make calls cheap. */
export function createUpstreams(options: UpstreamsOptions): Upstreams {
  const client = createProviderClient({ timeoutMs: options.timeoutMs });
  const cache = new Map<string, Upstream>();
  return {
    for(provider, clientFormat) {
      const key = `${provider.name}\n${clientFormat}`;
      let upstream = cache.get(key);
      if (upstream === undefined) {
        upstream = createUpstream(client, provider, clientFormat);
        cache.set(key, upstream);
      }
      return upstream;
    },
  };
}

function createUpstream(client: ProviderClient, provider: ProviderConfig, clientFormat: ClientFormat): Upstream {
  const post = (path: ProviderRequest["path"], body: Buffer, stream: boolean, o: UpstreamCallOptions): Promise<IncomingMessage> =>
    client({ provider, path, body, stream, credential: o.credential, forwardHeaders: o.forwardHeaders, signal: o.signal });
  const json = async (res: IncomingMessage): Promise<JsonBody> => {
    const bytes = await readBody(res);
    try {
      return JsonBody.parse(bytes);
    } catch (err) {
      throw new UpstreamInvalidResponseError({ cause: err });
    }
  };
  const events = (res: IncomingMessage): AsyncGenerator<StreamEvent> => providerEvents(provider, res);
  /** The provider's request: the client's own bytes when no translation is needed. */
  const withStream = (body: JsonBody, stream: boolean): Buffer => {
    const value = body.value as { stream?: unknown };
    return (value.stream === true) === stream ? body.bytes : Buffer.from(JSON.stringify({ ...value, stream }));
  };
  const sameFormat = (provider.format === "anthropic") === (clientFormat === "anthropic");

  if (sameFormat) {
    const path = PATHS[clientFormat];
    return {
      provider,
      native: true,
      complete: async (body, o) => json(await post(path, withStream(body, false), false, o)),
      stream: async (body, o) => events(await post(path, withStream(body, true), true, o)),
    };
  }
  const translated = (convert: () => object, stream: boolean): Buffer => Buffer.from(JSON.stringify({ ...translate(convert), stream }));
  if (clientFormat === "responses") {
    // A Responses client on an Anthropic-format provider: stateless, translated both ways.
    return {
      provider,
      native: false,
      async complete(body, o) {
        const request = body.value as ResponsesRequest;
        const message = (
          await json(
            await post(
              "/messages",
              translated(() => responsesRequestToAnthropic(request), false),
              false,
              o,
            ),
          )
        ).value as Message;
        return JsonBody.fromValue(anthropicMessageToResponse(message, { request }));
      },
      async stream(body, o) {
        const request = body.value as ResponsesRequest;
        const res = await post(
          "/messages",
          translated(() => responsesRequestToAnthropic(request), true),
          true,
          o,
        );
        const conv = createAnthropicToResponsesStream({ request });
        return convert(
          events(res),
          (e) => conv.push(e.json<RawMessageStreamEvent>()).map(named),
          () => conv.end().map(named),
        );
      },
    };
  }
  if (clientFormat === "anthropic") {
    // An Anthropic client on an OpenAI-compatible provider.
    return {
      provider,
      native: false,
      async complete(body, o) {
        const request = body.value as MessageCreateParams;
        const completion = (
          await json(
            await post(
              "/chat/completions",
              translated(() => anthropicRequestToOpenAI(request), false),
              false,
              o,
            ),
          )
        ).value as ChatCompletion;
        return JsonBody.fromValue(openAICompletionToAnthropic(completion, { model: request.model }));
      },
      async stream(body, o) {
        const request = body.value as MessageCreateParams;
        const res = await post(
          "/chat/completions",
          translated(() => anthropicRequestToOpenAI(request), true),
          true,
          o,
        );
        const conv = createOpenAIToAnthropicStream({ model: request.model });
        return convert(
          events(res),
          (e) => conv.push(e.json<ChatCompletionChunk>()).map(named),
          () => conv.end().map(named),
        );
      },
    };
  }
  // An OpenAI client on an Anthropic-format provider.
  return {
    provider,
    native: false,
    async complete(body, o) {
      const request = body.value as ChatCompletionCreateParams;
      const message = (
        await json(
          await post(
            "/messages",
            translated(() => openAIRequestToAnthropic(request), false),
            false,
            o,
          ),
        )
      ).value as Message;
      return JsonBody.fromValue(anthropicMessageToOpenAI(message));
    },
    async stream(body, o) {
      const request = body.value as ChatCompletionCreateParams;
      const res = await post(
        "/messages",
        translated(() => openAIRequestToAnthropic(request), true),
        true,
        o,
      );
      const conv = createAnthropicToOpenAIStream({ includeUsage: request.stream_options?.include_usage === true });
      const unnamed = (c: ChatCompletionChunk): StreamEvent => StreamEvent.fromJson(undefined, c);
      return convert(
        events(res),
        (e) => conv.push(e.json<RawMessageStreamEvent>()).map(unnamed),
        () => conv.end().map(unnamed),
      );
    },
  };
}

/** Anthropic and Responses events are named by their type. */
const named = (e: { type: string }): StreamEvent => StreamEvent.fromJson(e.type, e);

/**
 * A provider's stream as events, each parsed once, with the provider SDKs' rules: an Anthropic `error` event or an
 * OpenAI-format event carrying `error` is thrown as the provider's error; OpenAI's `[DONE]` is the last event.
 * Anthropic `ping`s pass (a SKIP stream is the provider's, byte for byte); the policy path leaves them out.
 */
async function* providerEvents(provider: ProviderConfig, res: IncomingMessage): AsyncGenerator<StreamEvent> {
  for await (const e of decodeStreamEvents(res)) {
    if (provider.format === "anthropic") {
      if (e.event === "error") {
        let body: unknown = e.data;
        try {
          body = e.json();
        } catch {
          // the text is the error
        }
        throw streamError(provider, body, res.headers);
      }
    } else {
      if (e.data === SSE_DONE) {
        yield e;
        return;
      }
      let data: { error?: unknown } | null;
      try {
        data = e.json<{ error?: unknown } | null>();
      } catch (err) {
        throw new UpstreamInvalidResponseError({ cause: err });
      }
      if (typeof data === "object" && data !== null && data.error !== undefined && data.error !== null) throw streamError(provider, data.error, res.headers);
    }
    yield e;
  }
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

async function* convert(source: AsyncIterable<StreamEvent>, map: (e: StreamEvent) => StreamEvent[], end: () => StreamEvent[]): AsyncGenerator<StreamEvent> {
  for await (const e of source) {
    // The converters take the provider's message; its keepalives and terminator are not part of it.
    if (e.event === "ping" || e.data === SSE_DONE) continue;
    yield* map(e);
  }
  yield* end();
}
