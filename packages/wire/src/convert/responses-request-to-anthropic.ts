import type { ChatCompletionToolChoiceOption } from "openai/resources/chat/completions";
import type {
  ResponseFunctionCallOutputItem,
  ResponseInputContent,
  ResponseOutputRefusal,
  ResponseOutputText,
  ResponseReasoningItem,
  Tool as ResponsesTool,
} from "openai/resources/responses/responses";
import type { DocumentBlockParam, ImageBlockParam, ThinkingBlockParam } from "@anthropic-ai/sdk/resources/messages";
import type { AnthropicRequest, TextBlockParam, Tool, ToolResultBlockParam } from "../anthropic";
import { ConversionError } from "../errors";
import type { ResponsesInputItem, ResponsesRequest } from "../openai-responses";
import { parseToolArguments } from "./mapping";
import { addTurn, buildAnthropicRequest, functionToolToAnthropic, imageBlock, pdfDocumentBlock, type Turn } from "./openai-request-to-anthropic";

/** The `include` value with which a client asks for reasoning it can send back (see {@link responsesRequestToAnthropic}). */
export const REASONING_ENCRYPTED_CONTENT = "reasoning.encrypted_content";

/**
 * Translates an OpenAI Responses request into an Anthropic Messages request (for a Responses client routed to an
 * Anthropic-format provider). Pure. Stateless only: the whole conversation must be in `input`, as clients send it with
 * `store: false`. `model` and `stream` are copied.
 *
 * | Responses | Anthropic |
 * | --- | --- |
 * | `instructions`, then `system` / `developer` messages (anywhere) | `system`, in order: a string for one, text blocks for several |
 * | `input` as a string | one user message |
 * | `message` items: `input_text`, `output_text`, `refusal` parts | text blocks |
 * | user `input_image` (data: URL → base64 source, http(s) → url source), `input_file` PDF `file_data` | image, document blocks |
 * | `function_call` items | assistant `tool_use` blocks (`id` = `call_id`, `arguments` parsed; `""` → `{}`) |
 * | `function_call_output` items | user `tool_result` blocks (`tool_use_id` = `call_id`; a string, or text / image / PDF blocks) |
 * | `reasoning` items carrying `encrypted_content` | assistant `thinking` blocks (`signature` = `encrypted_content`, text = the summary) |
 * | consecutive turns of one role | merged into one message (Anthropic wants alternating roles) |
 * | `tools` (function) | tools: `input_schema` = `parameters` (default `{type: "object"}`), `strict` kept |
 * | `tool_choice` auto / none / required / {type: function, name} | auto / none / any / {type: tool, name}; only with tools |
 * | `parallel_tool_calls: false` | `disable_parallel_tool_use: true` |
 * | `max_output_tokens` | `max_tokens`, default {@link DEFAULT_ANTHROPIC_MAX_TOKENS} |
 * | `temperature` (clamped to 0–1), `top_p` | `temperature`, `top_p` |
 * | `reasoning.effort` | `thinking`, as `reasoning_effort` in {@link openAIRequestToAnthropic} (same budgets and rules) |
 * | `text.format` json_schema | `output_config.format` json_schema |
 * | `safety_identifier` ?? `user` ?? `metadata.user_id` | `metadata.user_id` |
 *
 * Reasoning round trip: with thinking on, Anthropic wants the signed thinking of a tool-use turn sent back with its
 * tool results. {@link anthropicMessageToResponse} puts a thinking block's signature in the reasoning item's
 * `encrypted_content` when the client asks for it (`include: ["reasoning.encrypted_content"]`, as stateless clients
 * do), and this converter turns such an item back into the thinking block. Reasoning items without
 * `encrypted_content` are dropped; one that came from OpenAI itself carries a signature Anthropic rejects.
 *
 * Ignored: `store` (the gateway stores nothing either way, and the provider keeps no state to store, so `store: true`
 * promises nothing a later request could use — it could not name `previous_response_id` anyway), `include` (but see
 * above), `truncation`, `service_tier`, `top_logprobs`, `stream_options`, `prompt_cache_key`,
 * `prompt_cache_retention`, `prompt_cache_options`, `moderation`, `text.verbosity`, `reasoning.summary` and
 * `reasoning.context`, `metadata` other than `user_id`, message `phase` / `status` / `id`, image `detail`,
 * prompt-cache breakpoints, empty text (and a message left empty), `text.format` text, a `tool_choice` without tools.
 *
 * @throws ConversionError naming the field, for what needs OpenAI's servers or has no Anthropic meaning:
 *   `previous_response_id`, `conversation`, `background: true`, `prompt`, `context_management`, `item_reference`
 *   items; built-in and custom tools (web_search, file_search, computer, code_interpreter, image_generation, mcp,
 *   shell, apply_patch, custom, namespace, tool_search, ...), their `tool_choice`s, `allowed_tools`, and the items they
 *   produce; compaction items; `text.format` json_object; images or files outside user turns and tool results, file-id
 *   or file-URL inputs, files other than a PDF's `file_data`; tool-call arguments that are not a JSON object;
 *   a missing `model` or `input`
 */
export function responsesRequestToAnthropic(req: ResponsesRequest): AnthropicRequest {
  rejectStateful(req);
  if (req.model === undefined) throw new ConversionError("model is required");
  if (req.input === undefined) throw new ConversionError("input is required: a stateless request carries the whole conversation");
  const system: TextBlockParam[] = [];
  if (req.instructions !== undefined && req.instructions !== null) system.push(...nonEmptyText([req.instructions]));
  const turns: Turn[] = [];
  if (typeof req.input === "string") addTurn(turns, "user", nonEmptyText([req.input]));
  else req.input.forEach((item, i) => addItem(item, `input[${i}]`, system, turns));

  const format = req.text?.format;
  if (format?.type === "json_object") {
    throw new ConversionError("text.format json_object cannot be converted: Anthropic's structured output needs a schema; use json_schema");
  }
  return buildAnthropicRequest({
    model: req.model,
    system,
    turns,
    tools: (req.tools ?? []).map((tool, i) => toolToAnthropic(tool, `tools[${i}]`)),
    toolChoice: toolChoiceToChat(req.tool_choice),
    parallelToolCalls: req.parallel_tool_calls ?? undefined,
    reasoningEffort: req.reasoning?.effort ?? undefined,
    maxTokens: req.max_output_tokens ?? undefined,
    temperature: req.temperature ?? undefined,
    topP: req.top_p ?? undefined,
    userId: req.safety_identifier ?? req.user ?? req.metadata?.["user_id"] ?? undefined,
    stopSequences: [],
    jsonSchema: format?.type === "json_schema" ? format.schema : undefined,
    stream: req.stream === true,
  });
}

function rejectStateful(req: ResponsesRequest): void {
  const stateless = "the provider keeps no OpenAI state; send the whole conversation in input";
  if (req.previous_response_id !== undefined && req.previous_response_id !== null) {
    throw new ConversionError(`previous_response_id cannot be converted: ${stateless}`);
  }
  if (req.conversation !== undefined && req.conversation !== null) {
    throw new ConversionError(`conversation cannot be converted: ${stateless}`);
  }
  if (req.background === true) {
    throw new ConversionError("background: true cannot be converted: the answer comes in the request's own response, with nothing stored to poll");
  }
  if (req.prompt !== undefined && req.prompt !== null) {
    throw new ConversionError("prompt cannot be converted: prompt templates are stored at OpenAI; send instructions and input");
  }
  if (req.context_management !== undefined && req.context_management !== null && req.context_management.length > 0) {
    throw new ConversionError("context_management cannot be converted: compaction runs on OpenAI's servers");
  }
}

/** A content part of any message item: input parts, and the output parts of replayed assistant messages. */
type MessagePart = ResponseInputContent | ResponseOutputText | ResponseOutputRefusal;

function addItem(item: ResponsesInputItem, at: string, system: TextBlockParam[], turns: Turn[]): void {
  switch (item.type) {
    case undefined:
      // Both a message and an item reference may leave out `type`; only a message has a role.
      if ("role" in item) addMessage(item.role, item.content, at, system, turns);
      else throw itemReferenceError(at);
      return;
    case "message":
      addMessage(item.role, item.content, at, system, turns);
      return;
    case "function_call":
      if (item.namespace !== undefined) throw new ConversionError(`${at}.namespace: calls of namespaced tools cannot be converted`);
      addTurn(turns, "assistant", [{ type: "tool_use", id: item.call_id, name: item.name, input: parseToolArguments(item.arguments, `${at}.arguments`) }]);
      return;
    case "function_call_output": {
      const content = typeof item.output === "string" ? item.output : item.output.flatMap((part, j) => inputBlocks(part, `${at}.output[${j}]`));
      const result: ToolResultBlockParam = { type: "tool_result", tool_use_id: item.call_id, content };
      addTurn(turns, "user", [result]);
      return;
    }
    case "reasoning": {
      const thinking = thinkingBlock(item);
      if (thinking !== undefined) addTurn(turns, "assistant", [thinking]);
      return;
    }
    case "item_reference":
    case null:
      throw itemReferenceError(at);
    case "compaction":
    case "compaction_trigger":
      throw new ConversionError(`${at}: ${item.type} items cannot be converted: compaction is OpenAI's, encrypted by its servers`);
    case "file_search_call":
    case "computer_call":
    case "computer_call_output":
    case "web_search_call":
    case "tool_search_call":
    case "tool_search_output":
    case "additional_tools":
    case "image_generation_call":
    case "code_interpreter_call":
    case "local_shell_call":
    case "local_shell_call_output":
    case "shell_call":
    case "shell_call_output":
    case "apply_patch_call":
    case "apply_patch_call_output":
    case "mcp_list_tools":
    case "mcp_approval_request":
    case "mcp_approval_response":
    case "mcp_call":
    case "custom_tool_call":
    case "custom_tool_call_output":
    case "program":
    case "program_output":
      throw new ConversionError(`${at}: ${item.type} items cannot be converted: they belong to built-in or custom tools, which have no Anthropic equivalent here`);
    default: {
      const unknown: never = item;
      throw new ConversionError(`${at}: unknown item type ${String((unknown as { type: unknown }).type)}`);
    }
  }
}

function itemReferenceError(at: string): ConversionError {
  return new ConversionError(`${at}: item_reference cannot be converted: referenced items are stored at OpenAI; send the item itself`);
}

function addMessage(role: "user" | "assistant" | "system" | "developer", content: string | readonly MessagePart[], at: string, system: TextBlockParam[], turns: Turn[]): void {
  const parts: readonly MessagePart[] = typeof content === "string" ? [{ type: "input_text", text: content }] : content;
  switch (role) {
    case "system":
    case "developer":
      system.push(...nonEmptyText(parts.map((part, j) => textOf(part, `${at}.content[${j}]`, "system and developer messages carry text only"))));
      return;
    case "assistant":
      addTurn(turns, "assistant", nonEmptyText(parts.map((part, j) => textOf(part, `${at}.content[${j}]`, "assistant turns carry text only"))));
      return;
    case "user":
      addTurn(
        turns,
        "user",
        parts.flatMap((part, j) => inputBlocks(part, `${at}.content[${j}]`)),
      );
      return;
    default: {
      const unknown: never = role;
      throw new ConversionError(`${at}: unknown role ${String(unknown)}`);
    }
  }
}

/** The text of a text part; anything else is refused with `why`. */
function textOf(part: MessagePart, where: string, why: string): string {
  switch (part.type) {
    case "input_text":
    case "output_text":
      return part.text;
    case "refusal":
      return part.refusal;
    case "input_image":
    case "input_file":
      throw new ConversionError(`${where}: ${part.type} cannot be converted: ${why}`);
    default: {
      const unknown: never = part;
      throw new ConversionError(`${where}: unknown part type ${(unknown as { type: string }).type}`);
    }
  }
}

/**
 * The blocks of a user part or of a function call output part: text (empty text left out), an image, a PDF. Both
 * kinds of block fit a user message and a tool result alike.
 */
function inputBlocks(part: MessagePart | ResponseFunctionCallOutputItem, where: string): Array<TextBlockParam | ImageBlockParam | DocumentBlockParam> {
  switch (part.type) {
    case "input_text":
    case "output_text":
      return nonEmptyText([part.text]);
    case "refusal":
      return nonEmptyText([part.refusal]);
    case "input_image":
      return [imageBlock(imageUrl(part.image_url, where), where)];
    case "input_file":
      return [pdfDocumentBlock(part.file_data, part.filename, where)];
    default: {
      const unknown: never = part;
      throw new ConversionError(`${where}: unknown part type ${(unknown as { type: string }).type}`);
    }
  }
}

function imageUrl(url: string | null | undefined, where: string): string {
  if (url === undefined || url === null) {
    throw new ConversionError(`${where}: an image given by file_id cannot be converted (the file is stored at OpenAI); send image_url`);
  }
  return url;
}

/** Text blocks for the non-empty texts (Anthropic rejects empty text blocks). */
function nonEmptyText(texts: readonly string[]): TextBlockParam[] {
  return texts.filter((text) => text !== "").map((text) => ({ type: "text", text }));
}

/** See "Reasoning round trip" in {@link responsesRequestToAnthropic}. */
function thinkingBlock(item: ResponseReasoningItem): ThinkingBlockParam | undefined {
  if (typeof item.encrypted_content !== "string") return undefined;
  return { type: "thinking", thinking: item.summary.map((s) => s.text).join(""), signature: item.encrypted_content };
}

function toolToAnthropic(tool: ResponsesTool, at: string): Tool {
  switch (tool.type) {
    case "function":
      return functionToolToAnthropic(tool, at);
    case "custom":
      throw new ConversionError(`${at}: custom (freeform) tools cannot be converted: Anthropic tools take JSON input`);
    case "namespace":
      throw new ConversionError(`${at}: namespace tools cannot be converted; declare their functions as top-level function tools`);
    case "file_search":
    case "computer":
    case "computer_use_preview":
    case "web_search":
    case "web_search_2025_08_26":
    case "web_search_preview":
    case "web_search_preview_2025_03_11":
    case "mcp":
    case "code_interpreter":
    case "programmatic_tool_calling":
    case "image_generation":
    case "local_shell":
    case "shell":
    case "tool_search":
    case "apply_patch":
      throw new ConversionError(`${at}: the built-in tool ${tool.type} cannot be converted: OpenAI runs or defines it, the Anthropic-format provider cannot`);
    default: {
      const unknown: never = tool;
      throw new ConversionError(`${at}: unknown tool type ${(unknown as { type: string }).type}`);
    }
  }
}

/** Responses' `tool_choice` in Chat Completions' shape, which {@link buildAnthropicRequest} maps. */
function toolChoiceToChat(choice: ResponsesRequest["tool_choice"]): ChatCompletionToolChoiceOption | undefined {
  if (choice === undefined || typeof choice === "string") return choice;
  switch (choice.type) {
    case "function":
      return { type: "function", function: { name: choice.name } };
    case "allowed_tools":
      throw new ConversionError("tool_choice allowed_tools cannot be converted");
    case "custom":
    case "mcp":
    case "apply_patch":
    case "shell":
    case "programmatic_tool_calling":
    case "file_search":
    case "web_search_preview":
    case "computer":
    case "computer_use_preview":
    case "computer_use":
    case "web_search_preview_2025_03_11":
    case "image_generation":
    case "code_interpreter":
      throw new ConversionError(`tool_choice ${choice.type} cannot be converted: only function tools can be converted`);
    default: {
      const unknown: never = choice;
      throw new ConversionError(`unknown tool_choice ${JSON.stringify(unknown)}`);
    }
  }
}
