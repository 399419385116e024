import type { ResolvedScript } from "./script";
import type { StreamPlan } from "./sse";

/** Everything an endpoint module needs to render one answer. */
export interface CallContext {
  /** The call's number: `chatcmpl-mock-<n>`, `resp_mock_<n>`, `msg_mock_<n>`, the record id. */
  readonly callId: number;
  /** The request's `model`, or `mock-model` when it has none. */
  readonly model: string;
  /** Unix seconds, shared by every chunk of a stream. */
  readonly created: number;
  readonly request: Readonly<Record<string, unknown>>;
  readonly script: ResolvedScript;
}

/** A status and JSON body to send as is. */
export interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** One provider API's rendering of scripts and errors: the only place that knows its wire format. */
export interface EndpointFormat {
  /** For logs. */
  readonly name: "openai" | "responses" | "completions" | "embeddings" | "anthropic";
  /** Prefix of default tool-call ids. */
  readonly toolIdPrefix: string;
  /** The response header that carries the request id. */
  readonly requestIdHeader: string;
  /** An HTTP error body in this API's format. `type` defaults to this API's name for `status`. */
  errorBody(status: number, type: string | undefined, message: string): unknown;
  /** The non-streaming answer (or an error, when the script cannot be rendered in this format). */
  json(call: CallContext): JsonAnswer;
  /** The streaming answer; absent for an API that does not stream, which then answers `"stream": true` as JSON. */
  stream?(call: CallContext): StreamPlan;
}
