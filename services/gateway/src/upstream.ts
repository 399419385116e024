import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import {
  anthropicMessageToOpenAI,
  anthropicRequestToOpenAI,
  createAnthropicToOpenAIStream,
  createOpenAIToAnthropicStream,
  openAICompletionToAnthropic,
  openAIRequestToAnthropic,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionCreateParams,
  type Message,
  type MessageCreateParams,
  type RawMessageStreamEvent,
  type SseMessage,
} from "@luthien/wire";
import type { ChatCompletionCreateParamsNonStreaming } from "openai/resources/chat/completions";
import type { MessageCreateParamsNonStreaming } from "@anthropic-ai/sdk/resources/messages";
import type { UpstreamCredential } from "./auth";
import type { ProviderConfig, ProviderFormat } from "./routing";

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
  for(provider: ProviderConfig, clientFormat: ProviderFormat): Upstream;
}

/** SDK clients are made once per provider and reused: connection pools are what make calls cheap. */
export function createUpstreams(options: { timeoutMs: number }): Upstreams {
  const openaiClients = new Map<string, OpenAI>();
  const anthropicClients = new Map<string, Anthropic>();
  const openaiFor = (p: ProviderConfig): OpenAI => {
    let c = openaiClients.get(p.name);
    if (c === undefined) {
      // The OpenAI client insists on a key; an OpenAI-compatible server without auth ignores the placeholder.
      c = new OpenAI({ apiKey: p.apiKey ?? "no-key", baseURL: p.baseUrl, maxRetries: 0, timeout: options.timeoutMs });
      openaiClients.set(p.name, c);
    }
    return c;
  };
  const anthropicFor = (p: ProviderConfig): Anthropic => {
    let c = anthropicClients.get(p.name);
    if (c === undefined) {
      // Credentials go per request (the server's key, or the caller's own in passthrough), never from the env.
      c = new Anthropic({ apiKey: null, authToken: null, baseURL: p.baseUrl, maxRetries: 0, timeout: options.timeoutMs });
      anthropicClients.set(p.name, c);
    }
    return c;
  };

  return {
    for(provider, clientFormat) {
      if (provider.format === "openai") {
        const chat = (body: ChatCompletionCreateParams, o: UpstreamCallOptions) => ({
          client: openaiFor(provider).chat.completions,
          opts: { signal: o.signal, headers: openaiAuth(provider, o.credential) },
          body,
        });
        if (clientFormat === "openai") {
          return {
            provider,
            async complete(body, o) {
              const { client, opts } = chat(body as ChatCompletionCreateParams, o);
              // The body goes as the client sent it: adding even `stream: false` would change what the provider sees.
              return client.create(body as ChatCompletionCreateParamsNonStreaming, opts);
            },
            async stream(body, o) {
              const { client, opts } = chat(body as ChatCompletionCreateParams, o);
              const s = await client.create({ ...(body as ChatCompletionCreateParams), stream: true }, opts);
              return mapEvents(s, (c: ChatCompletionChunk) => [{ data: JSON.stringify(c) }], () => []);
            },
          };
        }
        return {
          provider,
          async complete(body, o) {
            const req = anthropicRequestToOpenAI(body as MessageCreateParams);
            const { client, opts } = chat(req, o);
            const c = await client.create({ ...req, stream: false }, opts);
            return openAICompletionToAnthropic(c, { model: (body as MessageCreateParams).model });
          },
          async stream(body, o) {
            const req = anthropicRequestToOpenAI(body as MessageCreateParams);
            const { client, opts } = chat(req, o);
            const s = await client.create({ ...req, stream: true }, opts);
            const conv = createOpenAIToAnthropicStream({ model: (body as MessageCreateParams).model });
            const toSse = (events: { type: string }[]): SseMessage[] => events.map((e) => ({ event: e.type, data: JSON.stringify(e) }));
            return mapEvents(s, (c: ChatCompletionChunk) => toSse(conv.push(c)), () => toSse(conv.end()));
          },
        };
      }

      const messages = (o: UpstreamCallOptions) => ({
        client: anthropicFor(provider).messages,
        opts: { signal: o.signal, headers: { ...o.forwardHeaders, ...anthropicAuth(provider, o.credential) } },
      });
      if (clientFormat === "anthropic") {
        return {
          provider,
          async complete(body, o) {
            const { client, opts } = messages(o);
            return client.create(body as MessageCreateParamsNonStreaming, opts);
          },
          async stream(body, o) {
            const { client, opts } = messages(o);
            const s = await client.create({ ...(body as MessageCreateParams), stream: true }, opts);
            return mapEvents(s, (e: RawMessageStreamEvent) => [{ event: e.type, data: JSON.stringify(e) }], () => []);
          },
        };
      }
      return {
        provider,
        async complete(body, o) {
          const { client, opts } = messages(o);
          const m: Message = await client.create({ ...openAIRequestToAnthropic(body as ChatCompletionCreateParams), stream: false }, opts);
          return anthropicMessageToOpenAI(m) satisfies ChatCompletion;
        },
        async stream(body, o) {
          const req = body as ChatCompletionCreateParams;
          const { client, opts } = messages(o);
          const s = await client.create({ ...openAIRequestToAnthropic(req), stream: true }, opts);
          const conv = createAnthropicToOpenAIStream({ includeUsage: req.stream_options?.include_usage === true });
          const toSse = (chunks: ChatCompletionChunk[]): SseMessage[] => chunks.map((c) => ({ data: JSON.stringify(c) }));
          return mapEvents(s, (e: RawMessageStreamEvent) => toSse(conv.push(e)), () => toSse(conv.end()));
        },
      };
    },
  };
}

async function* mapEvents<T>(source: AsyncIterable<T>, map: (item: T) => SseMessage[], end: () => SseMessage[]): AsyncGenerator<SseMessage> {
  for await (const item of source) yield* map(item);
  yield* end();
}

/** Headers that replace the OpenAI client's default key when the caller's own credential goes upstream. */
function openaiAuth(provider: ProviderConfig, credential: UpstreamCredential): Record<string, string> | undefined {
  if (credential.kind === "server") return undefined;
  return { authorization: `Bearer ${credential.value}` };
}

/** Anthropic auth: API keys travel as `x-api-key`, OAuth tokens as `Authorization: Bearer`, as they came. */
function anthropicAuth(provider: ProviderConfig, credential: UpstreamCredential): Record<string, string | null> {
  switch (credential.kind) {
    case "server":
      return provider.apiKey !== undefined ? { "x-api-key": provider.apiKey, authorization: null } : { authorization: null };
    case "api-key":
      return { "x-api-key": credential.value, authorization: null };
    case "bearer":
      return { authorization: `Bearer ${credential.value}` };
  }
}
