import type {
  ChatCompletionAssistantMessageParam,
  ChatCompletionContentPart,
  ChatCompletionContentPartText,
  ChatCompletionCreateParams,
  ChatCompletionTool,
  ChatCompletionToolChoiceOption,
  ChatCompletionToolMessageParam,
} from "openai/resources/chat/completions";
import type { Base64ImageSource, ContentBlockParam, DocumentBlockParam, ImageBlockParam, MessageCreateParamsNonStreaming, ThinkingConfigParam } from "@anthropic-ai/sdk/resources/messages";
import type { AnthropicRequest, AnthropicSamplingParams, MessageParam, TextBlockParam, Tool, ToolChoice } from "../anthropic";
import { ConversionError } from "../errors";
import { parseToolArguments } from "./mapping";

/** `max_tokens` sent to Anthropic when the OpenAI request has none: Anthropic requires it, OpenAI does not. */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4096;

/**
 * Anthropic thinking budget (`budget_tokens`) for each OpenAI `reasoning_effort`; `none` and `minimal` turn thinking
 * off. Anthropic's minimum budget is 1024.
 */
export const THINKING_BUDGET_BY_EFFORT = { low: 1024, medium: 4096, high: 16384, xhigh: 24576, max: 32768 } as const;

const MIN_THINKING_BUDGET = 1024;
const IMAGE_MEDIA_TYPES: ReadonlySet<string> = new Set(["image/jpeg", "image/png", "image/gif", "image/webp"]);

/**
 * Translates an OpenAI Chat Completions request into an Anthropic Messages request (for an OpenAI client routed to an
 * Anthropic-format provider). Pure. `model` and `stream` are copied.
 *
 * | OpenAI | Anthropic |
 * | --- | --- |
 * | `system` / `developer` messages (anywhere) | `system`, in order: a string for one, text blocks for several |
 * | user text, `image_url` (data: URL → base64 source, http(s) → url source), PDF `file` with `file_data` | text, image, document blocks |
 * | assistant text / refusal text, `tool_calls` | text blocks, `tool_use` blocks (arguments parsed; `""` → `{}`) |
 * | `tool` messages | `tool_result` blocks in a user message |
 * | consecutive messages of one role | merged into one message (Anthropic wants alternating roles) |
 * | `tools` (function) | tools: `input_schema` = `parameters` (default `{type: "object"}`), `strict` kept |
 * | `tool_choice` auto / none / required / {function} | auto / none / any / {type: tool, name}; only with tools |
 * | `parallel_tool_calls: false` | `disable_parallel_tool_use: true` |
 * | `stop` | `stop_sequences` |
 * | `max_completion_tokens` ?? `max_tokens` | `max_tokens`, default {@link DEFAULT_ANTHROPIC_MAX_TOKENS} |
 * | `temperature` | `temperature`, clamped to Anthropic's 0–1 |
 * | `top_p` | `top_p` |
 * | `safety_identifier` ?? `user` | `metadata.user_id` |
 * | `response_format` json_schema | `output_config.format` json_schema |
 * | `reasoning_effort` | `thinking`: none/minimal → disabled; otherwise enabled with {@link THINKING_BUDGET_BY_EFFORT}, the budget added to the default `max_tokens` or capped below the client's (thinking counts toward it, as reasoning counts toward OpenAI's `max_completion_tokens`); not enabled when the client forces a tool (Anthropic forbids both) or its limit is under 1025; with thinking on, `temperature` and `top_p` are dropped (Anthropic rejects them with thinking) |
 *
 * Dropped: message `name`, image `detail`, empty text (and a message left empty), `response_format` json_object
 * and text, `stream_options`, `logprobs`, `top_logprobs`, `frequency_penalty`, `presence_penalty`, `logit_bias`,
 * `seed`, `store`, `metadata`, `service_tier`, `prediction`, `prompt_cache_key`, `prompt_cache_retention`,
 * `prompt_cache_options`, `prompt_cache_breakpoint`, `web_search_options`, `verbosity`, `moderation`, `n: 1`;
 * a `tool_choice` without tools.
 *
 * @throws ConversionError for what cannot be mapped: `n` > 1, audio (`modalities` with audio, `audio`, audio input
 *   parts, assistant `audio`), legacy `functions` / `function_call` / `function` messages, custom tools and custom
 *   tool calls, `allowed_tools` tool choice, files other than a PDF's `file_data`, image URLs that are neither data:
 *   nor http(s) or of a type Anthropic does not take, tool-call arguments that are not a JSON object, a non-object
 *   `parameters` schema
 */
export function openAIRequestToAnthropic(req: ChatCompletionCreateParams): AnthropicRequest {
  rejectUnmappable(req);
  const system: TextBlockParam[] = [];
  const turns: Turn[] = [];
  req.messages.forEach((message, i) => {
    const at = `messages[${i}]`;
    switch (message.role) {
      case "system":
      case "developer":
        system.push(...textBlocks(message.content));
        break;
      case "user":
        addTurn(turns, "user", userBlocks(message.content, at));
        break;
      case "assistant":
        addTurn(turns, "assistant", assistantBlocks(message, at));
        break;
      case "tool":
        addTurn(turns, "user", [toolResult(message)]);
        break;
      case "function":
        throw new ConversionError(`${at}: legacy function messages cannot be converted; use tools`);
      default: {
        const unknown: never = message;
        throw new ConversionError(`${at}: unknown role ${(unknown as { role: string }).role}`);
      }
    }
  });
  const stop = req.stop ?? [];
  return buildAnthropicRequest({
    model: req.model,
    system,
    turns,
    tools: (req.tools ?? []).map((tool, i) => toolToAnthropic(tool, `tools[${i}]`)),
    toolChoice: req.tool_choice,
    parallelToolCalls: req.parallel_tool_calls ?? undefined,
    reasoningEffort: req.reasoning_effort ?? undefined,
    maxTokens: req.max_completion_tokens ?? req.max_tokens ?? undefined,
    temperature: req.temperature ?? undefined,
    topP: req.top_p ?? undefined,
    userId: req.safety_identifier ?? req.user ?? undefined,
    stopSequences: typeof stop === "string" ? [stop] : stop,
    jsonSchema: req.response_format?.type === "json_schema" ? (req.response_format.json_schema.schema ?? {}) : undefined,
    stream: req.stream === true,
  });
}

/**
 * What an OpenAI-format request (Chat Completions or Responses) amounts to once its messages are Anthropic turns:
 * the input of {@link buildAnthropicRequest}, which both converters share so that tools, tool choice, thinking and
 * sampling follow one set of rules. Internal to the converters.
 */
export interface AnthropicRequestParts {
  model: string;
  system: TextBlockParam[];
  turns: Turn[];
  tools: Tool[];
  /** In Chat Completions' shape; the Responses converter translates its own into it. */
  toolChoice: ChatCompletionToolChoiceOption | undefined;
  parallelToolCalls: boolean | undefined;
  reasoningEffort: ReasoningEffort | undefined;
  /** The client's output limit (thinking counts toward it), if it set one. */
  maxTokens: number | undefined;
  temperature: number | undefined;
  topP: number | undefined;
  userId: string | undefined;
  stopSequences: string[];
  /** A JSON schema the answer must follow (structured output). */
  jsonSchema: Record<string, unknown> | undefined;
  stream: boolean;
}

/** OpenAI's reasoning effort, as both its request formats carry it. */
export type ReasoningEffort = NonNullable<ChatCompletionCreateParams["reasoning_effort"]>;

/** Builds the Anthropic request from converted parts; see the table of {@link openAIRequestToAnthropic}. */
export function buildAnthropicRequest(parts: AnthropicRequestParts): AnthropicRequest {
  const { system, tools } = parts;
  const toolChoice = tools.length > 0 ? toolChoiceToAnthropic(parts.toolChoice, parts.parallelToolCalls) : undefined;
  const forcesTool = toolChoice?.type === "any" || toolChoice?.type === "tool";
  const { thinking, maxTokens } = thinkingFor(parts.reasoningEffort, parts.maxTokens, forcesTool);

  const out: MessageCreateParamsNonStreaming & AnthropicSamplingParams = {
    model: parts.model,
    max_tokens: maxTokens,
    messages: parts.turns.map((t): MessageParam => ({ role: t.role, content: t.content })),
  };
  if (system.length === 1 && system[0] !== undefined) out.system = system[0].text;
  else if (system.length > 1) out.system = system;
  if (tools.length > 0) out.tools = tools;
  if (toolChoice !== undefined) out.tool_choice = toolChoice;
  if (parts.stopSequences.length > 0) out.stop_sequences = parts.stopSequences;
  if (thinking !== undefined) out.thinking = thinking;
  const thinkingOn = thinking?.type === "enabled";
  if (!thinkingOn && parts.temperature !== undefined) out.temperature = Math.min(parts.temperature, 1);
  if (!thinkingOn && parts.topP !== undefined) out.top_p = parts.topP;
  if (parts.userId !== undefined) out.metadata = { user_id: parts.userId };
  if (parts.jsonSchema !== undefined) out.output_config = { format: { type: "json_schema", schema: parts.jsonSchema } };
  return parts.stream ? { ...out, stream: true } : out;
}

/** A message being built; consecutive messages of one role land in one turn. */
export interface Turn {
  role: "user" | "assistant";
  content: ContentBlockParam[];
}

export function addTurn(turns: Turn[], role: Turn["role"], blocks: ContentBlockParam[]): void {
  if (blocks.length === 0) return;
  const last = turns.at(-1);
  if (last?.role === role) last.content.push(...blocks);
  else turns.push({ role, content: blocks });
}

function rejectUnmappable(req: ChatCompletionCreateParams): void {
  if (req.n !== undefined && req.n !== null && req.n !== 1) {
    throw new ConversionError(`n: ${req.n} cannot be converted: Anthropic returns one answer per request`);
  }
  if (req.modalities?.includes("audio") === true || (req.audio !== undefined && req.audio !== null)) {
    throw new ConversionError("audio output cannot be converted: Anthropic answers in text");
  }
  if (req.functions !== undefined || req.function_call !== undefined) {
    throw new ConversionError("legacy functions / function_call cannot be converted; use tools");
  }
}

/** Text of a system, developer or tool message as text blocks, empty ones left out (Anthropic rejects them). */
function textBlocks(content: string | ChatCompletionContentPartText[]): TextBlockParam[] {
  const texts = typeof content === "string" ? [content] : content.map((p) => p.text);
  return texts.filter((text) => text !== "").map((text) => ({ type: "text", text }));
}

function userBlocks(content: string | ChatCompletionContentPart[], at: string): ContentBlockParam[] {
  if (typeof content === "string") return textBlocks(content);
  const blocks: ContentBlockParam[] = [];
  content.forEach((part, j) => {
    const where = `${at}.content[${j}]`;
    switch (part.type) {
      case "text":
        if (part.text !== "") blocks.push({ type: "text", text: part.text });
        break;
      case "image_url":
        blocks.push(imageBlock(part.image_url.url, where));
        break;
      case "input_audio":
        throw new ConversionError(`${where}: audio input cannot be converted`);
      case "file":
        blocks.push(pdfDocumentBlock(part.file.file_data, part.file.filename, where));
        break;
      default: {
        const unknown: never = part;
        throw new ConversionError(`${where}: unknown part type ${(unknown as { type: string }).type}`);
      }
    }
  });
  return blocks;
}

/** An image URL as an image block: a base64 data: URL of a type Anthropic takes, or an http(s) URL. */
export function imageBlock(url: string, where: string): ImageBlockParam {
  const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (data !== null) {
    const mediaType = data[1] ?? "";
    if (!IMAGE_MEDIA_TYPES.has(mediaType)) {
      throw new ConversionError(`${where}: image type ${mediaType} cannot be converted (Anthropic takes jpeg, png, gif, webp)`);
    }
    const source: Base64ImageSource = { type: "base64", media_type: mediaType as Base64ImageSource["media_type"], data: data[2] ?? "" };
    return { type: "image", source };
  }
  if (/^https?:\/\//i.test(url)) return { type: "image", source: { type: "url", url } };
  throw new ConversionError(`${where}: image_url must be a base64 data: URL or an http(s) URL`);
}

/**
 * A PDF given as `file_data` (a base64 data: URL) as a document block, titled with its file name.
 * @throws ConversionError for anything else (other file types, file ids, file URLs)
 */
export function pdfDocumentBlock(fileData: string | null | undefined, filename: string | null | undefined, where: string): DocumentBlockParam {
  const pdf = /^data:application\/pdf;base64,(.*)$/s.exec(fileData ?? "");
  if (pdf?.[1] === undefined) {
    throw new ConversionError(`${where}: only a PDF given as file_data (a data: URL) can be converted`);
  }
  return {
    type: "document",
    source: { type: "base64", media_type: "application/pdf", data: pdf[1] },
    ...(filename !== undefined && filename !== null ? { title: filename } : {}),
  };
}

function assistantBlocks(message: ChatCompletionAssistantMessageParam, at: string): ContentBlockParam[] {
  if (message.function_call !== undefined && message.function_call !== null) {
    throw new ConversionError(`${at}: legacy function_call cannot be converted; use tool_calls`);
  }
  if (message.audio !== undefined && message.audio !== null) {
    throw new ConversionError(`${at}: assistant audio cannot be converted`);
  }
  const blocks: ContentBlockParam[] = [];
  const text = (t: string): void => {
    if (t !== "") blocks.push({ type: "text", text: t });
  };
  const content = message.content ?? [];
  if (typeof content === "string") text(content);
  else for (const part of content) text(part.type === "text" ? part.text : part.refusal);
  if (message.refusal !== undefined && message.refusal !== null) text(message.refusal);
  (message.tool_calls ?? []).forEach((call, j) => {
    const where = `${at}.tool_calls[${j}]`;
    if (call.type !== "function") throw new ConversionError(`${where}: custom tool calls cannot be converted`);
    const input = parseToolArguments(call.function.arguments, `${where}.function.arguments`);
    blocks.push({ type: "tool_use", id: call.id, name: call.function.name, input });
  });
  return blocks;
}

function toolResult(message: ChatCompletionToolMessageParam): ContentBlockParam {
  const content = typeof message.content === "string" ? message.content : textBlocks(message.content);
  return { type: "tool_result", tool_use_id: message.tool_call_id, content };
}

function toolToAnthropic(tool: ChatCompletionTool, at: string): Tool {
  if (tool.type !== "function") throw new ConversionError(`${at}: custom tools cannot be converted`);
  return functionToolToAnthropic(tool.function, `${at}.function`);
}

/** The parts of an OpenAI function tool that an Anthropic tool carries, in either OpenAI format. */
export interface FunctionToolFields {
  name: string;
  description?: string | null | undefined;
  parameters?: Record<string, unknown> | null | undefined;
  strict?: boolean | null | undefined;
}

/**
 * An OpenAI function tool as an Anthropic tool: `input_schema` = `parameters` (default `{type: "object"}`), `strict`
 * kept. `at` names the function in the request.
 * @throws ConversionError when `parameters` describes something other than an object
 */
export function functionToolToAnthropic(fn: FunctionToolFields, at: string): Tool {
  const parameters = fn.parameters ?? {};
  if (parameters["type"] !== undefined && parameters["type"] !== "object") {
    throw new ConversionError(`${at}.parameters must describe an object (Anthropic's input_schema is one)`);
  }
  const result: Tool = { name: fn.name, input_schema: { ...parameters, type: "object" } };
  if (fn.description !== undefined && fn.description !== null) result.description = fn.description;
  if (fn.strict === true) result.strict = true;
  return result;
}

function toolChoiceToAnthropic(choice: ChatCompletionToolChoiceOption | undefined, parallel: boolean | undefined): ToolChoice | undefined {
  const single = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === undefined) return parallel === false ? { type: "auto", ...single } : undefined;
  if (choice === "auto") return { type: "auto", ...single };
  if (choice === "none") return { type: "none" };
  if (choice === "required") return { type: "any", ...single };
  switch (choice.type) {
    case "function":
      return { type: "tool", name: choice.function.name, ...single };
    case "allowed_tools":
      throw new ConversionError("tool_choice allowed_tools cannot be converted");
    case "custom":
      throw new ConversionError("tool_choice for a custom tool cannot be converted");
    default: {
      const unknown: never = choice;
      throw new ConversionError(`unknown tool_choice ${JSON.stringify(unknown)}`);
    }
  }
}

/** See the `reasoning_effort` row of {@link openAIRequestToAnthropic}. */
function thinkingFor(effort: ReasoningEffort | undefined, clientMax: number | undefined, forcesTool: boolean): { thinking: ThinkingConfigParam | undefined; maxTokens: number } {
  const maxTokens = clientMax ?? DEFAULT_ANTHROPIC_MAX_TOKENS;
  if (effort === undefined) return { thinking: undefined, maxTokens };
  if (effort === "none" || effort === "minimal") return { thinking: { type: "disabled" }, maxTokens };
  if (forcesTool) return { thinking: undefined, maxTokens };
  const budget = THINKING_BUDGET_BY_EFFORT[effort];
  if (clientMax === undefined) return { thinking: { type: "enabled", budget_tokens: budget }, maxTokens: maxTokens + budget };
  // budget_tokens must be below max_tokens and at least 1024.
  if (clientMax <= MIN_THINKING_BUDGET) return { thinking: undefined, maxTokens };
  return { thinking: { type: "enabled", budget_tokens: Math.min(budget, clientMax - 1) }, maxTokens };
}
