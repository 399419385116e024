import type {
  AnthropicStreamEvent,
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
  Message,
  MessageCreateParams,
  ResponsesRequest,
  ResponsesResponse,
  ResponsesStreamEvent,
} from "@luthien/wire";

/** How much of the response a policy needs: every event (FULL), a look without holding it (OBSERVE), or none. */
export type ResponseMode = "FULL" | "OBSERVE" | "SKIP";

/**
 * The client's API: OpenAI Chat Completions (`openai`), Anthropic Messages (`anthropic`) or the OpenAI Responses API
 * (`responses`). Policies always see the client's format.
 */
export type ClientFormat = "openai" | "anthropic" | "responses";

/** The client's request, in its own format. */
export type PolicyRequest = { format: "openai"; body: ChatCompletionCreateParams } | { format: "anthropic"; body: MessageCreateParams } | { format: "responses"; body: ResponsesRequest };
/** A whole (non-streaming) response, in the client's format. */
export type PolicyResponse = { format: "openai"; body: ChatCompletion } | { format: "anthropic"; body: Message } | { format: "responses"; body: ResponsesResponse };
/**
 * One stream event, in the client's format: an OpenAI chunk, an Anthropic event (with its `type`), or a Responses
 * event (with its `type` and `sequence_number`; the gateway renumbers what reaches the client).
 */
export type PolicyEvent = { format: "openai"; chunk: ChatCompletionChunk } | { format: "anthropic"; event: AnthropicStreamEvent } | { format: "responses"; event: ResponsesStreamEvent };

/** Refuse the call; the gateway renders the error in the client's format. */
export interface DenyDecision {
  decision: "deny";
  /** @default 403 */
  status: number;
  /** @default "permission_error" */
  type: string;
  message: string;
}

/** Answer the client without calling the provider (or in place of the provider's answer). */
export interface RespondDecision {
  decision: "respond";
  response: PolicyResponse;
}

export type RequestOutcome = PolicyRequest | DenyDecision | RespondDecision;
export type ResponseOutcome = PolicyResponse | DenyDecision;

/** Builds a deny decision. */
export function deny(options: { message: string; status?: number; type?: string }): DenyDecision {
  return { decision: "deny", status: options.status ?? 403, type: options.type ?? "permission_error", message: options.message };
}

/** Builds a respond decision. */
export function respond(response: PolicyResponse): RespondDecision {
  return { decision: "respond", response };
}

export function isDeny(x: RequestOutcome | ResponseOutcome): x is DenyDecision {
  return "decision" in x && x.decision === "deny";
}

export function isRespond(x: RequestOutcome): x is RespondDecision {
  return "decision" in x && x.decision === "respond";
}

/** What the engine knows about a call. */
export interface CallInfo {
  readonly callId: string;
  readonly format: ClientFormat;
  readonly stream: boolean;
  /** A stable, non-secret id of the client's key ("" when auth is off). */
  readonly keyId: string;
  /** The virtual key's owner ("" for static keys and passed-through credentials). */
  readonly owner: string;
  readonly userId: string;
  readonly sessionId: string;
  /** The model the client asked for. */
  readonly model: string;
}

/** What a policy asks a person to decide: one tool call, with the reason it was held. */
export interface ApprovalRequest {
  tool: string;
  /** The call's id in its format: OpenAI `tool_calls[].id`, Anthropic `tool_use.id`, Responses `call_id`. */
  toolCallId: string;
  /** The call's arguments, in full: the approver sees what would run. */
  input: unknown;
  reason: string;
}

/**
 * A person's (or a bot's) answer, or why there was none. Anything but `approved: true` means the call must not run:
 * `expired` (no decision within the policy's `approvalTimeout`), `cancelled` (the client left, the engine stopped),
 * `unavailable` (no approval channel: the engine runs without NATS).
 */
export type ApprovalOutcome =
  | { approved: true; by: string; note: string; via: "decision" | "session" }
  | { approved: false; by: string; note: string; reason: "denied" | "expired" | "cancelled" | "unavailable" };

/** A policy's view of one call. Each policy in a chain gets its own context, and so its own state. */
export interface PolicyContext<S = undefined> extends CallInfo {
  /** This policy's state for this call, made by `Policy.createState`. */
  state: S;
  /** Records an activity event `policy.<policy name>.<action>`. */
  emit(action: string, data?: Record<string, unknown>): void;
  /** Tells the gateway this policy is still working, extending the verdict deadline (up to its bound). */
  keepalive(): void;
  /**
   * Holds the call until a person decides (`approval.requested` goes to the monitor's inbox, `pnpm luthien
   * approvals` and the NATS decide subject); the gateway keeps the client waiting meanwhile. Resolves, never
   * rejects: anything but an approval is a refusal. A policy running in shadow gets `approved` at once (and the
   * chain records `would_hold`): shadow never waits.
   */
  requestApproval(request: ApprovalRequest): Promise<ApprovalOutcome>;
  /** True when this policy runs in shadow: what it returns is recorded as `would_*` events, never applied. */
  readonly shadow: boolean;
}

type Maybe<T> = T | Promise<T>;

/**
 * A policy. Every hook is optional; a missing hook passes its input through unchanged. Hooks may be async.
 * In a stream, `onEvent` returns the events to send in place of `event` (none to hold or drop, several to
 * release held ones), and `onStreamEnd` returns any events still held.
 *
 * Hooks never change their input in place: a changed request, response or event is a new object, and returning the
 * input object itself (for an event, `[event]`) means "unchanged" — the engine then tells the gateway to send the
 * original as it has it, so a change made in place would never reach the client. (The test kit hands policies
 * frozen inputs, so a policy that writes to one fails its tests.)
 */
export interface Policy<S = undefined> {
  readonly name: string;
  /** What the policy needs of the response. A chain uses the strongest mode among its members. */
  readonly mode: ResponseMode;
  /**
   * Runs in shadow (config `mode: shadow`): the policy sees the real traffic, and what it would have done is
   * recorded as `policy.<name>.would_<action>` events, but its output is never applied. @default false
   */
  readonly shadow?: boolean;
  /** How long {@link PolicyContext.requestApproval} waits for a decision before the call is refused. @default 300000 */
  readonly approvalTimeoutMs?: number;
  createState?(info: CallInfo): S;
  onRequest?(request: PolicyRequest, ctx: PolicyContext<S>): Maybe<RequestOutcome>;
  onResponse?(response: PolicyResponse, ctx: PolicyContext<S>): Maybe<ResponseOutcome>;
  onEvent?(event: PolicyEvent, ctx: PolicyContext<S>): Maybe<PolicyEvent[]>;
  onStreamEnd?(ctx: PolicyContext<S>): Maybe<PolicyEvent[]>;
}

/**
 * A policy whatever its state type, as a chain holds them. (Hooks take the state as a parameter, so `Policy<S>` is
 * not assignable to `Policy<unknown>`.)
 */
// biome-ignore lint/suspicious/noExplicitAny: a chain holds policies of every state type, which `unknown` would not accept
export type AnyPolicy = Policy<any>;
