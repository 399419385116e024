import type {
  ChatCompletionAssistantMessageParam,
  ChatCompletionContentPart,
  ChatCompletionContentPartText,
  ChatCompletionCreateParams,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageFunctionToolCall,
  ChatCompletionMessageParam,
  ChatCompletionSystemMessageParam,
  ChatCompletionTool,
  ChatCompletionToolChoiceOption,
  ChatCompletionToolMessageParam,
} from "openai/resources/chat/completions";
import type { ContentBlockParam, DocumentBlockParam, ImageBlockParam, ToolUnion } from "@anthropic-ai/sdk/resources/messages";
import type { AnthropicRequest, TextBlockParam, ToolChoice, ToolResultBlockParam } from "../anthropic";
import { ConversionError } from "../errors";

/** Options of {@link anthropicRequestToOpenAI}. */
export interface AnthropicRequestToOpenAIOptions {
  /**
   * The field that carries Anthropic's `max_tokens`. vLLM, Ollama and most OpenAI-compatible servers know
   * `max_tokens`; OpenAI's reasoning models accept only `max_completion_tokens`.
   * @default "max_tokens"
   */
  maxTokensField?: "max_tokens" | "max_completion_tokens";
}

/** Shown in a tool message whose result had images: OpenAI tool messages carry text only. */
export const TOOL_RESULT_IMAGE_NOTE = "[image: attached in the next user message]";

/**
 * Translates an Anthropic Messages request into an OpenAI Chat Completions request (for an Anthropic client routed to
 * an OpenAI-compatible provider). Pure. `model` is copied.
 *
 * | Anthropic | OpenAI |
 * | --- | --- |
 * | `system` (string or text blocks), `system`-role messages | a system message (one text part → string, several → text parts) |
 * | user text, image (base64 → data: URL, url → url), document (text → text part, content → its parts, base64 PDF → `file` part) | user content: a string for one text, else parts |
 * | `tool_result` blocks | `tool` messages (text joined with "\n"; `is_error` → prefixed "Error: "), placed before the user message they came in; images in a result move to the following user message |
 * | assistant text, `tool_use` | assistant content, `tool_calls` (`arguments` = `JSON.stringify(input)`) |
 * | `tools` (custom) | function tools (`parameters` = `input_schema`, `strict` kept) |
 * | `tool_choice` auto / any / tool / none | auto / required / {function} / none; only with tools |
 * | `disable_parallel_tool_use: true` | `parallel_tool_calls: false` |
 * | `stop_sequences` | `stop` |
 * | `max_tokens` | `max_tokens` (or `max_completion_tokens`, see {@link AnthropicRequestToOpenAIOptions}) |
 * | `temperature`, `top_p` | `temperature`, `top_p` |
 * | `metadata.user_id` | `user` |
 * | `output_config.format` json_schema | `response_format` json_schema (named "response") |
 * | `stream: true` | `stream: true` + `stream_options: {include_usage: true}` (so usage can be reported) |
 *
 * Dropped: thinking and redacted_thinking blocks (OpenAI has no field to replay them), `cache_control` everywhere,
 * `citations`, document `context` and `title` (a PDF's title names its file), `thinking` and `output_config.effort`
 * (non-reasoning models reject `reasoning_effort`), `top_k`, `service_tier`, `speed`, `container`, `diagnostics`,
 * `inference_geo`, `user_profile_id`, `workspace_id`, tool `input_examples` / `defer_loading` /
 * `eager_input_streaming` / `allowed_callers`.
 *
 * @throws ConversionError for what cannot be mapped: Anthropic-defined tools (bash, text editor, web search, code
 *   execution, computer, memory, ...) and the blocks they produce (`server_tool_use`, `*_tool_result`,
 *   `container_upload`), file-id images and documents, URL PDFs, `search_result` blocks, `tool_reference` and
 *   `browser_state` in tool results, images or documents in assistant turns
 */
export function anthropicRequestToOpenAI(req: AnthropicRequest, options: AnthropicRequestToOpenAIOptions = {}): ChatCompletionCreateParams {
  const messages: ChatCompletionMessageParam[] = [];
  if (req.system !== undefined) messages.push(...systemMessages(req.system));
  req.messages.forEach((message, i) => {
    const at = `messages[${i}]`;
    switch (message.role) {
      case "system":
        messages.push(...systemMessages(message.content));
        break;
      case "user":
        messages.push(...userMessages(message.content, at));
        break;
      case "assistant":
        messages.push(assistantMessage(message.content, at));
        break;
      default: {
        const unknown: never = message;
        throw new ConversionError(`${at}: unknown role ${(unknown as { role: string }).role}`);
      }
    }
  });

  const out: ChatCompletionCreateParamsNonStreaming = { model: req.model, messages };
  out[options.maxTokensField ?? "max_tokens"] = req.max_tokens;
  const tools = (req.tools ?? []).map((tool, i) => toolToOpenAI(tool, `tools[${i}]`));
  if (tools.length > 0) {
    out.tools = tools;
    if (req.tool_choice !== undefined) {
      out.tool_choice = toolChoiceToOpenAI(req.tool_choice);
      if (req.tool_choice.type !== "none" && req.tool_choice.disable_parallel_tool_use === true) out.parallel_tool_calls = false;
    }
  }
  if (req.stop_sequences !== undefined && req.stop_sequences.length > 0) out.stop = req.stop_sequences;
  if (req.temperature !== undefined) out.temperature = req.temperature;
  if (req.top_p !== undefined) out.top_p = req.top_p;
  const userId = req.metadata?.user_id;
  if (userId !== undefined && userId !== null) out.user = userId;
  const format = req.output_config?.format;
  if (format !== undefined && format !== null) {
    out.response_format = { type: "json_schema", json_schema: { name: "response", schema: format.schema } };
  }
  return req.stream === true ? { ...out, stream: true, stream_options: { include_usage: true } } : out;
}

/** One text → a string (what every OpenAI-compatible server understands), several → text parts. */
function textContent(texts: string[]): string | ChatCompletionContentPartText[] {
  return texts.length === 1 && texts[0] !== undefined ? texts[0] : texts.map((text) => ({ type: "text", text }));
}

function systemMessages(content: string | TextBlockParam[]): ChatCompletionSystemMessageParam[] {
  const texts = typeof content === "string" ? [content] : content.map((b) => b.text);
  return texts.length > 0 ? [{ role: "system", content: textContent(texts) }] : [];
}

/** Tool results become `tool` messages, which must directly follow the assistant's tool calls, so they go first. */
function userMessages(content: string | ContentBlockParam[], at: string): ChatCompletionMessageParam[] {
  if (typeof content === "string") return [{ role: "user", content }];
  const toolMessages: ChatCompletionToolMessageParam[] = [];
  const carriedImages: ChatCompletionContentPart[] = [];
  const parts: ChatCompletionContentPart[] = [];
  content.forEach((block, j) => {
    const where = `${at}.content[${j}]`;
    switch (block.type) {
      case "text":
        parts.push({ type: "text", text: block.text });
        break;
      case "image":
        parts.push(imagePart(block, where));
        break;
      case "document":
        parts.push(...documentParts(block, where));
        break;
      case "tool_result":
        toolMessages.push(toolMessage(block, where, carriedImages));
        break;
      case "thinking":
      case "redacted_thinking":
        break;
      case "tool_use":
        throw new ConversionError(`${where}: tool_use blocks belong in assistant turns`);
      case "search_result":
        throw new ConversionError(`${where}: search_result blocks cannot be converted`);
      case "server_tool_use":
      case "web_search_tool_result":
      case "web_fetch_tool_result":
      case "code_execution_tool_result":
      case "bash_code_execution_tool_result":
      case "text_editor_code_execution_tool_result":
      case "tool_search_tool_result":
      case "container_upload":
        throw serverToolBlock(block.type, where);
      default: {
        const unknown: never = block;
        throw new ConversionError(`${where}: unknown block type ${(unknown as { type: string }).type}`);
      }
    }
  });
  const all = [...carriedImages, ...parts];
  if (all.length === 0) return toolMessages;
  const onlyText = all.every((p): p is ChatCompletionContentPartText => p.type === "text");
  return [...toolMessages, { role: "user", content: onlyText ? textContent(all.map((p) => p.text)) : all }];
}

function assistantMessage(content: string | ContentBlockParam[], at: string): ChatCompletionAssistantMessageParam {
  if (typeof content === "string") return { role: "assistant", content };
  const texts: string[] = [];
  const toolCalls: ChatCompletionMessageFunctionToolCall[] = [];
  content.forEach((block, j) => {
    const where = `${at}.content[${j}]`;
    switch (block.type) {
      case "text":
        texts.push(block.text);
        break;
      case "tool_use":
        toolCalls.push({ id: block.id, type: "function", function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } });
        break;
      case "thinking":
      case "redacted_thinking":
        break;
      case "image":
      case "document":
      case "search_result":
      case "tool_result":
        throw new ConversionError(`${where}: ${block.type} blocks cannot be converted in an assistant turn`);
      case "server_tool_use":
      case "web_search_tool_result":
      case "web_fetch_tool_result":
      case "code_execution_tool_result":
      case "bash_code_execution_tool_result":
      case "text_editor_code_execution_tool_result":
      case "tool_search_tool_result":
      case "container_upload":
        throw serverToolBlock(block.type, where);
      default: {
        const unknown: never = block;
        throw new ConversionError(`${where}: unknown block type ${(unknown as { type: string }).type}`);
      }
    }
  });
  const message: ChatCompletionAssistantMessageParam = {
    role: "assistant",
    content: texts.length > 0 ? textContent(texts) : toolCalls.length > 0 ? null : "",
  };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return message;
}

function toolMessage(block: ToolResultBlockParam, where: string, carriedImages: ChatCompletionContentPart[]): ChatCompletionToolMessageParam {
  const texts: string[] = [];
  const content = block.content ?? "";
  if (typeof content === "string") texts.push(content);
  else {
    content.forEach((part, k) => {
      const at = `${where}.content[${k}]`;
      switch (part.type) {
        case "text":
          texts.push(part.text);
          break;
        case "image":
          carriedImages.push(imagePart(part, at));
          texts.push(TOOL_RESULT_IMAGE_NOTE);
          break;
        case "document":
          for (const p of documentParts(part, at)) {
            if (p.type !== "text") throw new ConversionError(`${at}: only text documents can be converted in a tool result`);
            texts.push(p.text);
          }
          break;
        case "search_result":
        case "tool_reference":
        case "browser_state":
          throw new ConversionError(`${at}: ${part.type} blocks cannot be converted`);
        default: {
          const unknown: never = part;
          throw new ConversionError(`${at}: unknown block type ${(unknown as { type: string }).type}`);
        }
      }
    });
  }
  const text = texts.join("\n");
  return { role: "tool", tool_call_id: block.tool_use_id, content: block.is_error === true ? `Error: ${text}` : text };
}

function imagePart(block: ImageBlockParam, where: string): ChatCompletionContentPart {
  const { source } = block;
  switch (source.type) {
    case "base64":
      return { type: "image_url", image_url: { url: `data:${source.media_type};base64,${source.data}` } };
    case "url":
      return { type: "image_url", image_url: { url: source.url } };
    case "file":
      throw new ConversionError(`${where}: images given by file_id cannot be converted`);
    default: {
      const unknown: never = source;
      throw new ConversionError(`${where}: unknown image source ${(unknown as { type: string }).type}`);
    }
  }
}

function documentParts(block: DocumentBlockParam, where: string): ChatCompletionContentPart[] {
  const { source } = block;
  switch (source.type) {
    case "text":
      return [{ type: "text", text: source.data }];
    case "content":
      if (typeof source.content === "string") return [{ type: "text", text: source.content }];
      return source.content.map((b, k) => (b.type === "text" ? { type: "text", text: b.text } : imagePart(b, `${where}.source.content[${k}]`)));
    case "base64":
      return [{ type: "file", file: { file_data: `data:${source.media_type};base64,${source.data}`, filename: block.title ?? "document.pdf" } }];
    case "url":
      throw new ConversionError(`${where}: documents given by URL cannot be converted`);
    case "file":
      throw new ConversionError(`${where}: documents given by file_id cannot be converted`);
    default: {
      const unknown: never = source;
      throw new ConversionError(`${where}: unknown document source ${(unknown as { type: string }).type}`);
    }
  }
}

function toolToOpenAI(tool: ToolUnion, at: string): ChatCompletionTool {
  if (tool.type !== undefined && tool.type !== null && tool.type !== "custom") {
    throw new ConversionError(`${at}: ${tool.type} is an Anthropic-defined tool and cannot be converted`);
  }
  if (!("input_schema" in tool)) throw new ConversionError(`${at}: a custom tool needs input_schema`);
  const fn: ChatCompletionTool & { type: "function" } = {
    type: "function",
    function: { name: tool.name, parameters: tool.input_schema },
  };
  if (tool.description !== undefined) fn.function.description = tool.description;
  if (tool.strict === true) fn.function.strict = true;
  return fn;
}

function toolChoiceToOpenAI(choice: ToolChoice): ChatCompletionToolChoiceOption {
  switch (choice.type) {
    case "auto":
      return "auto";
    case "any":
      return "required";
    case "none":
      return "none";
    case "tool":
      return { type: "function", function: { name: choice.name } };
    default: {
      const unknown: never = choice;
      throw new ConversionError(`unknown tool_choice ${JSON.stringify(unknown)}`);
    }
  }
}

function serverToolBlock(type: string, where: string): ConversionError {
  return new ConversionError(`${where}: ${type} blocks come from Anthropic server tools and cannot be converted`);
}
