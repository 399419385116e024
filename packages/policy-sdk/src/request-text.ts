import type { ResponsesStreamEvent } from "@luthien/wire";
import { mapAnthropicMessage, mapAnthropicRequest, mapCitation, mapContentBlock } from "./internal/anthropic-text";
import { startWalk, type CarrierAccess, type VisitCarrier } from "./internal/carriers";
import { mapOpenAIChunk, mapOpenAICompletion, mapOpenAIRequest } from "./internal/openai-text";
import { mapResponsesRequest, readResponsesOutput } from "./internal/responses-request";
import type { PolicyEvent, PolicyRequest, PolicyResponse } from "./policy";

/** One piece of text in a request, and where it sits. */
export interface RequestText {
  /** A path into the request body, e.g. `system`, `messages[2].content`, `messages[3].content[1].content[0].text`. */
  where: string;
  /** Who wrote it: system prompts (OpenAI `developer` included), user turns, assistant turns, tool results. */
  role: "system" | "user" | "assistant" | "tool";
  text: string;
}

/** One piece of text in a response or a stream event, where it sits, and what a text policy does with it. */
export interface ResponseText {
  /** A path into the body or event, e.g. `choices[0].message.refusal`, `content[1].thinking`, `delta.text`. */
  where: string;
  text: string;
  /**
   * `write`: text policies rewrite it (assistant text, refusals, unsigned reasoning, transcripts, citations, server
   * tool output); `read`: only read (tool calls, names, URLs); `signed`: Anthropic thinking, never rewritten (a text
   * policy may fail the call instead); `logprobs`: the text a token list spells (dropped, never rewritten).
   */
  access: CarrierAccess;
}

/**
 * Every text carrier of a request, in order, for request-side checks — what a text policy rewrites and what it only
 * reads alike, so a request-side block sees all of it.
 *
 * OpenAI: per message its content (strings and text/refusal parts), the assistant's `refusal`, what it called
 * earlier (`tool_calls` names and arguments, custom tool input, legacy `function_call`), the message `name`, and
 * URLs of images that are not data URLs and file names; then `prediction.content`, `metadata` values, tool and legacy
 * function definitions (name, description, parameters schema, grammar) and a JSON-schema response format.
 *
 * Anthropic: `system` (string or blocks), then per turn its text blocks (and their citations), documents (text and
 * content sources, title, context), search results, `tool_result` content (strings, text, documents, search results,
 * tool references, browser tabs), thinking, `tool_use` / `server_tool_use` names and inputs (as JSON), and server
 * tool results (search titles and URLs, fetched documents, code execution output, editor views); then tool
 * definitions (name, description, input schema, examples) and the output format's schema.
 *
 * Responses: `instructions`, `prompt.variables`, `input` as a string or items — message text parts (input_text,
 * output_text, refusal) of every role, tool outputs (`function_call_output`, `custom_tool_call_output`, shell,
 * local shell, apply_patch, MCP and program outputs, code interpreter logs, file search results), and what the
 * assistant called earlier (`function_call.arguments`, `custom_tool_call.input`, shell commands, patches, code,
 * MCP arguments, search queries, reasoning summaries) — then tool descriptions (`tools[i].description`, role
 * system). Text kept on the server (`previous_response_id`, `conversation`) is not in the request and not seen.
 *
 * Not included: image, audio and file bytes, encrypted or opaque content (redacted thinking, encrypted search
 * results, reasoning `encrypted_content`).
 */
export function* requestText(request: PolicyRequest): Generator<RequestText> {
  const found: RequestText[] = [];
  const collect: VisitCarrier = ({ where, role, text }) => (found.push({ where, role, text }), text);
  switch (request.format) {
    case "openai":
      mapOpenAIRequest(request.body, collect);
      break;
    case "anthropic":
      mapAnthropicRequest(request.body, collect);
      break;
    case "responses":
      mapResponsesRequest(request.body, collect);
      break;
    default: {
      const unknown: never = request;
      throw new Error(`unknown request format ${JSON.stringify(unknown)}`);
    }
  }
  yield* found;
}

/**
 * Every text carrier of a whole response or of one stream event, in order — the twin of {@link requestText}.
 *
 * OpenAI: per choice `content`, `refusal`, provider reasoning (`reasoning_content`, `reasoning`), `audio.transcript`,
 * annotation titles and URLs, tool calls (names, arguments, custom inputs) and the legacy `function_call`, and the
 * text the logprobs token lists spell (content, refusal); a chunk's delta the same way, piece by piece.
 *
 * Anthropic: text blocks and their citations, thinking, `tool_use` / `server_tool_use` names and inputs, server
 * tool results (search titles and URLs, fetched documents, code execution output, editor views, tool references);
 * in a stream, the blocks of `message_start` and `content_block_start` and each delta's text, thinking, citation or
 * input JSON.
 *
 * Responses: every output item (message text and refusal parts, reasoning summaries and text, call arguments and
 * inputs, shell commands, patches, code, tool outputs, ...), and in a stream each event's piece of them (text,
 * refusal, reasoning and argument deltas and done events, audio transcripts, annotations, snapshots and the final
 * response). The text policy writes Responses `output_text`, `refusal`, reasoning summary and reasoning text parts and
 * audio transcripts; the rest (call arguments and inputs, commands, tool outputs) is read.
 */
export function* responseText(x: PolicyResponse | PolicyEvent): Generator<ResponseText> {
  const found: ResponseText[] = [];
  const collect: VisitCarrier = ({ where, text, access }) => (found.push({ where, text, access }), text);
  if ("body" in x) {
    switch (x.format) {
      case "openai":
        mapOpenAICompletion(x.body, collect);
        break;
      case "anthropic":
        mapAnthropicMessage(x.body, collect);
        break;
      case "responses":
        readResponsesOutput(x.body.output, "output", collect);
        break;
      default: {
        const unknown: never = x;
        throw new Error(`unknown response format ${JSON.stringify(unknown)}`);
      }
    }
  } else {
    switch (x.format) {
      case "openai":
        mapOpenAIChunk(x.chunk, collect);
        break;
      case "anthropic":
        anthropicEventText(x.event, collect);
        break;
      case "responses":
        responsesEventText(x.event, collect);
        break;
      default: {
        const unknown: never = x;
        throw new Error(`unknown event format ${JSON.stringify(unknown)}`);
      }
    }
  }
  yield* found;
}

function anthropicEventText(event: Extract<PolicyEvent, { format: "anthropic" }>["event"], visit: VisitCarrier): void {
  const { walk } = startWalk(visit);
  switch (event.type) {
    case "message_start":
      mapAnthropicMessage(event.message, (c) => visit({ ...c, where: `message.${c.where}` }));
      return;
    case "content_block_start":
      mapContentBlock(event.content_block, "content_block", walk);
      return;
    case "content_block_delta": {
      const d = event.delta;
      switch (d.type) {
        case "text_delta":
          walk(d.text, "delta.text", "assistant");
          return;
        case "thinking_delta":
          walk(d.thinking, "delta.thinking", "assistant", "signed");
          return;
        case "citations_delta":
          mapCitation(d.citation, "delta.citation", walk);
          return;
        case "input_json_delta":
          walk(d.partial_json, "delta.partial_json", "assistant", "read");
          return;
        case "signature_delta":
          return;
        default: {
          const unknown: never = d;
          walk(JSON.stringify(unknown) ?? "", "delta", "assistant", "read");
          return;
        }
      }
    }
    case "content_block_stop":
    case "message_delta":
    case "message_stop":
    case "ping":
      return;
    default: {
      const unknown: never = event;
      walk(JSON.stringify(unknown) ?? "", "", "assistant", "read");
      return;
    }
  }
}

function responsesEventText(e: ResponsesStreamEvent, visit: VisitCarrier): void {
  const { walk } = startWalk(visit);
  const read = (text: string, where: string): void => void walk(text, where, "assistant", "read");
  switch (e.type) {
    case "response.output_text.delta":
      walk(e.delta, "delta", "assistant");
      return;
    case "response.output_text.done":
      walk(e.text, "text", "assistant");
      return;
    case "response.content_part.added":
    case "response.content_part.done": {
      const p = e.part;
      if (p.type === "output_text") walk(p.text, "part.text", "assistant");
      else if (p.type === "refusal") walk(p.refusal, "part.refusal", "assistant");
      else read(p.text, "part.text");
      return;
    }
    case "response.output_item.added":
    case "response.output_item.done":
      readResponsesOutput([e.item], "item", visit);
      return;
    case "response.created":
    case "response.in_progress":
    case "response.queued":
    case "response.completed":
    case "response.incomplete":
    case "response.failed":
      readResponsesOutput(e.response.output, "response.output", visit);
      return;
    case "response.refusal.delta":
      walk(e.delta, "delta", "assistant");
      return;
    case "response.reasoning_summary_text.delta":
    case "response.reasoning_text.delta":
    case "response.audio.transcript.delta":
      walk(e.delta, "delta", "assistant");
      return;
    case "response.function_call_arguments.delta":
    case "response.custom_tool_call_input.delta":
    case "response.mcp_call_arguments.delta":
    case "response.code_interpreter_call_code.delta":
      read(e.delta, "delta");
      return;
    case "response.refusal.done":
      walk(e.refusal, "refusal", "assistant");
      return;
    case "response.reasoning_summary_text.done":
    case "response.reasoning_text.done":
      walk(e.text, "text", "assistant");
      return;
    case "response.reasoning_summary_part.added":
    case "response.reasoning_summary_part.done":
      walk(e.part.text, "part.text", "assistant");
      return;
    case "response.function_call_arguments.done":
    case "response.mcp_call_arguments.done":
      read(e.arguments, "arguments");
      return;
    case "response.custom_tool_call_input.done":
      read(e.input, "input");
      return;
    case "response.code_interpreter_call_code.done":
      read(e.code, "code");
      return;
    case "response.output_text.annotation.added":
      read(JSON.stringify(e.annotation) ?? "", "annotation");
      return;
    case "error":
      read(e.message, "message");
      return;
    case "response.audio.delta":
    case "response.audio.done":
    case "response.audio.transcript.done":
    case "response.code_interpreter_call.completed":
    case "response.code_interpreter_call.in_progress":
    case "response.code_interpreter_call.interpreting":
    case "response.file_search_call.completed":
    case "response.file_search_call.in_progress":
    case "response.file_search_call.searching":
    case "response.web_search_call.completed":
    case "response.web_search_call.in_progress":
    case "response.web_search_call.searching":
    case "response.image_generation_call.completed":
    case "response.image_generation_call.generating":
    case "response.image_generation_call.in_progress":
    case "response.image_generation_call.partial_image":
    case "response.mcp_call.completed":
    case "response.mcp_call.failed":
    case "response.mcp_call.in_progress":
    case "response.mcp_list_tools.completed":
    case "response.mcp_list_tools.failed":
    case "response.mcp_list_tools.in_progress":
      return;
    default: {
      const unknown: never = e;
      throw new Error(`unknown Responses event ${JSON.stringify(unknown)}`);
    }
  }
}
