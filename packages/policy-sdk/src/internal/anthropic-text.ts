import type { ContentBlock, ContentBlockParam, Message, MessageCreateParams, MessageParam, RawContentBlockDelta, TextBlockParam, Tool } from "@luthien/wire";
import { asText, startWalk, type CarrierAccess, type TextRole, type VisitCarrier, type Walk } from "./carriers";

/**
 * The one text walker of Anthropic Messages: every carrier of a request, a message and a stream event's block.
 * Written from the SDK's types: the switches over block, source, citation and result kinds are exhaustive (a kind
 * the SDK adds is a type error here), and the request's fields are classified in a table with the same effect.
 *
 * Thinking is `signed`: its signature covers the text, and a changed block makes the API refuse the next turn
 * (Claude Code's session breaks), so walkers never rewrite it; a text policy decides what a change means.
 */

type Kind = "text" | "none";
type ToolUnion = NonNullable<MessageCreateParams["tools"]>[number];
type ToolResultPart = Extract<NonNullable<Extract<ContentBlockParam, { type: "tool_result" }>["content"]>, unknown[]>[number];
type DocumentParam = Extract<ContentBlockParam, { type: "document" }>;
type SearchResultParam = Extract<ContentBlockParam, { type: "search_result" }>;
type Citation = NonNullable<Extract<ContentBlock, { type: "text" }>["citations"]>[number];
type CitationParam = NonNullable<TextBlockParam["citations"]>[number];

// Tripwires (type-checked, never read).
const REQUEST_FIELDS = {
  messages: "text",
  system: "text",
  tools: "text",
  output_config: "text",
  max_tokens: "none",
  model: "none",
  cache_control: "none",
  container: "none",
  diagnostics: "none",
  inference_geo: "none",
  metadata: "none",
  service_tier: "none",
  speed: "none",
  stop_sequences: "none",
  stream: "none",
  thinking: "none",
  tool_choice: "none",
  user_profile_id: "none",
  workspace_id: "none",
} as const satisfies Record<keyof MessageCreateParams, Kind>;
void REQUEST_FIELDS;
/** Server tools have fixed descriptions: a server tool kind with a `description` of its own is a type error here. */
type WithDescription<U> = U extends unknown ? ("description" extends keyof U ? U : never) : never;
const _serverToolsHaveNoDescription: [WithDescription<Exclude<ToolUnion, Tool>>] extends [never] ? true : never = true;
void _serverToolsHaveNoDescription;

/**
 * Every carrier of a Messages request, in order: `system` (a string or text blocks), each message's content (a
 * string, or blocks: see {@link mapBlockParams}), then tool definitions (name, description, input schema and
 * examples: read, role system) and `output_config.format`'s schema (read). Returns the same body when nothing
 * changed.
 */
export function mapAnthropicRequest(body: MessageCreateParams, visit: VisitCarrier): MessageCreateParams {
  const { walk, changed } = startWalk(visit);
  const out: MessageCreateParams = { ...body };
  if (typeof body.system === "string") out.system = walk(body.system, "system", "system");
  else if (body.system !== undefined) out.system = body.system.map((b, i) => textParam(b, `system[${i}]`, "system", walk));
  out.messages = body.messages.map((m, i) => mapMessageParam(m, `messages[${i}]`, walk));
  for (const [i, t] of (body.tools ?? []).entries()) {
    const at = `tools[${i}]`;
    if (t.type === undefined || t.type === null || t.type === "custom") {
      walk(t.name, `${at}.name`, "system", "read");
      if (t.description !== undefined) walk(t.description, `${at}.description`, "system", "read");
      walk(asText(t.input_schema), `${at}.input_schema`, "system", "read");
    }
    if ("input_examples" in t && t.input_examples !== undefined) walk(asText(t.input_examples), `${at}.input_examples`, "system", "read");
  }
  const format = body.output_config?.format;
  if (format !== undefined && format !== null) walk(asText(format.schema), "output_config.format.schema", "system", "read");
  return changed() ? out : body;
}

function mapMessageParam(m: MessageParam, at: string, walk: Walk): MessageParam {
  switch (m.role) {
    case "system":
      return { ...m, content: typeof m.content === "string" ? walk(m.content, `${at}.content`, "system") : m.content.map((b, j) => textParam(b, `${at}.content[${j}]`, "system", walk)) };
    case "user":
    case "assistant": {
      const role: TextRole = m.role;
      return { ...m, content: typeof m.content === "string" ? walk(m.content, `${at}.content`, role) : mapBlockParams(m.content, `${at}.content`, role, walk) };
    }
    default: {
      const unknown: never = m;
      throw new Error(`unknown Messages message ${JSON.stringify(unknown)}`);
    }
  }
}

/** A text block: its text (written), its citations (read: they quote a document the request carries itself). */
function textParam(b: TextBlockParam, at: string, role: TextRole, walk: Walk): TextBlockParam {
  for (const [k, c] of (Array.isArray(b.citations) ? b.citations : []).entries()) readCitation(c, `${at}.citations[${k}]`, role, walk);
  return { ...b, text: walk(b.text, at, role) };
}

function readCitation(c: CitationParam | Citation, at: string, role: TextRole, walk: Walk, access: CarrierAccess = "read"): CitationParam | Citation {
  const cited = walk(c.cited_text, `${at}.cited_text`, role, access);
  switch (c.type) {
    case "char_location":
    case "page_location":
    case "content_block_location": {
      const title = c.document_title === null ? null : walk(c.document_title, `${at}.document_title`, role, access);
      return { ...c, cited_text: cited, document_title: title };
    }
    case "web_search_result_location":
      walk(c.url, `${at}.url`, role, "read");
      return { ...c, cited_text: cited, title: c.title === null ? null : walk(c.title, `${at}.title`, role, access) };
    case "search_result_location":
      walk(c.source, `${at}.source`, role, "read");
      return { ...c, cited_text: cited, title: c.title === null ? null : walk(c.title, `${at}.title`, role, access) };
    default: {
      const unknown: never = c;
      return readUnknown(unknown, at, role, walk);
    }
  }
}

/** A document: text and content sources, title and context (written); PDFs and files carry no text here. */
function documentParam(d: DocumentParam, at: string, role: TextRole, walk: Walk): DocumentParam {
  const w = (text: string, where: string): string => walk(text, where, role);
  const next: DocumentParam = { ...d };
  const s = d.source;
  switch (s.type) {
    case "text":
      next.source = { ...s, data: w(s.data, `${at}.source.data`) };
      break;
    case "content":
      next.source = {
        ...s,
        content:
          typeof s.content === "string"
            ? w(s.content, `${at}.source.content`)
            : s.content.map((p, k) => (p.type === "text" ? { ...p, text: w(p.text, `${at}.source.content[${k}].text`) } : p)),
      };
      break;
    case "url":
      walk(s.url, `${at}.source.url`, role, "read");
      break;
    case "base64":
    case "file":
      break;
    default: {
      const unknown: never = s;
      readUnknown(unknown, `${at}.source`, role, walk);
      break;
    }
  }
  if (typeof d.title === "string") next.title = w(d.title, `${at}.title`);
  if (typeof d.context === "string") next.context = w(d.context, `${at}.context`);
  return next;
}

function searchResultParam(b: SearchResultParam, at: string, role: TextRole, walk: Walk): SearchResultParam {
  walk(b.source, `${at}.source`, role, "read");
  return { ...b, title: walk(b.title, `${at}.title`, role), content: b.content.map((t, k) => textParam(t, `${at}.content[${k}]`, role, walk)) };
}

/**
 * The carriers of a turn's blocks: text (and citations, read), documents (text and content sources, title,
 * context), search results, tool results (a string or parts: text, documents, search results, tool references and
 * browser state read) as role `tool`, thinking (`signed`), and — read — what the assistant called (`tool_use` and
 * `server_tool_use` input and name) and what server tools returned (search titles and URLs, fetched documents,
 * code execution output, editor views, tool references). Images carry no text but a URL (read).
 */
export function mapBlockParams(blocks: ContentBlockParam[], at: string, role: TextRole, walk: Walk): ContentBlockParam[] {
  return blocks.map((b, j): ContentBlockParam => {
    const where = `${at}[${j}]`;
    switch (b.type) {
      case "text":
        return textParam(b, where, role, walk);
      case "image":
        if (b.source.type === "url") walk(b.source.url, `${where}.source.url`, role, "read");
        return b;
      case "document":
        return documentParam(b, where, role, walk);
      case "search_result":
        return searchResultParam(b, where, role, walk);
      case "thinking":
        walk(b.thinking, `${where}.thinking`, role, "signed");
        return b;
      case "redacted_thinking":
        return b;
      case "tool_use":
      case "server_tool_use":
        readCall(b, where, walk);
        return b;
      case "tool_result": {
        if (b.content === undefined) return b;
        if (typeof b.content === "string") return { ...b, content: walk(b.content, `${where}.content`, "tool") };
        return { ...b, content: b.content.map((p, k) => toolResultPart(p, `${where}.content[${k}]`, walk)) };
      }
      case "web_search_tool_result":
      case "web_fetch_tool_result":
      case "code_execution_tool_result":
      case "bash_code_execution_tool_result":
      case "text_editor_code_execution_tool_result":
      case "tool_search_tool_result":
        // What a server tool returned earlier: the provider's own output, read.
        mapServerResult(b as unknown as ServerResult, where, "tool", walk, "read");
        return b;
      case "container_upload":
        return b;
      default: {
        const unknown: never = b;
        return readUnknown(unknown, where, role, walk);
      }
    }
  });
}

/** What was called (`tool_use`, `server_tool_use`): its name and input, read — rewriting them would change a call. */
function readCall(b: { name: string; input: unknown }, at: string, walk: Walk): void {
  walk(b.name, `${at}.name`, "assistant", "read");
  walk(asText(b.input), `${at}.input`, "assistant", "read");
}

function toolResultPart(p: ToolResultPart, at: string, walk: Walk): ToolResultPart {
  switch (p.type) {
    case "text":
      return textParam(p, at, "tool", walk);
    case "image":
      if (p.source.type === "url") walk(p.source.url, `${at}.source.url`, "tool", "read");
      return p;
    case "document":
      return documentParam(p, at, "tool", walk);
    case "search_result":
      return searchResultParam(p, at, "tool", walk);
    case "tool_reference":
      walk(p.tool_name, `${at}.tool_name`, "tool", "read");
      return p;
    case "browser_state":
      for (const [k, tab] of p.tabs.entries()) {
        walk(tab.title, `${at}.tabs[${k}].title`, "tool", "read");
        walk(tab.url, `${at}.tabs[${k}].url`, "tool", "read");
      }
      return p;
    default: {
      const unknown: never = p;
      return readUnknown(unknown, at, "tool", walk);
    }
  }
}

/** Every carrier of a whole message: each block as {@link mapContentBlock} says. Same message when nothing changed. */
export function mapAnthropicMessage(body: Message, visit: VisitCarrier): Message {
  const { walk, changed } = startWalk(visit);
  const content = body.content.map((b, i) => mapContentBlock(b, `content[${i}]`, walk));
  return changed() ? { ...body, content } : body;
}

/**
 * The carriers of one response block: text and its citations (cited text and titles written, URLs read), thinking
 * (`signed`), server tool results the user reads (search result titles, fetched documents, code execution output,
 * editor views: written; URLs, tool references read), and what was called (`tool_use`, `server_tool_use`: read).
 * `redacted_thinking` and encrypted search content are opaque.
 */
export function mapContentBlock(b: ContentBlock, at: string, walk: Walk): ContentBlock {
  switch (b.type) {
    case "text":
      return {
        ...b,
        text: walk(b.text, at, "assistant"),
        // Providers may leave `citations` out: it stays out.
        ...(Array.isArray(b.citations) ? { citations: b.citations.map((c, k) => readCitation(c, `${at}.citations[${k}]`, "assistant", walk, "write") as Citation) } : {}),
      };
    case "thinking":
      walk(b.thinking, `${at}.thinking`, "assistant", "signed");
      return b;
    case "redacted_thinking":
      return b;
    case "tool_use":
    case "server_tool_use":
      readCall(b, at, walk);
      return b;
    case "web_search_tool_result":
    case "web_fetch_tool_result":
    case "code_execution_tool_result":
    case "bash_code_execution_tool_result":
    case "text_editor_code_execution_tool_result":
    case "tool_search_tool_result":
      return mapServerResult(b, at, "assistant", walk, "write");
    case "container_upload":
      return b;
    default: {
      const unknown: never = b;
      return readUnknown(unknown, at, "assistant", walk);
    }
  }
}

type ServerResult = Extract<
  ContentBlock,
  {
    type:
      | "web_search_tool_result"
      | "web_fetch_tool_result"
      | "code_execution_tool_result"
      | "bash_code_execution_tool_result"
      | "text_editor_code_execution_tool_result"
      | "tool_search_tool_result";
  }
>;

/**
 * What a server tool returned, in a response (written: the user reads it) or a request's history (read): search
 * result titles, a fetched document, code execution output, editor views; URLs and tool references are read.
 * Encrypted content (search results, encrypted stdout) is opaque.
 */
function mapServerResult(b: ServerResult, at: string, role: TextRole, walk: Walk, access: "write" | "read"): ServerResult {
  const w = (text: string, path: string): string => walk(text, `${at}${path}`, role, access);
  const read = (text: string, path: string): void => void walk(text, `${at}${path}`, role, "read");
  switch (b.type) {
    case "web_search_tool_result":
      if (!Array.isArray(b.content)) return b;
      return {
        ...b,
        content: b.content.map((r, k) => {
          read(r.url, `.content[${k}].url`);
          return { ...r, title: w(r.title, `.content[${k}].title`) };
        }),
      };
    case "web_fetch_tool_result": {
      const c = b.content;
      if (c.type !== "web_fetch_result") return b;
      read(c.url, ".content.url");
      const d = c.content;
      const s = d.source;
      const source = s.type === "text" ? { ...s, data: w(s.data, ".content.content.source.data") } : s;
      return { ...b, content: { ...c, content: { ...d, source, title: typeof d.title === "string" ? w(d.title, ".content.content.title") : d.title } } };
    }
    case "code_execution_tool_result": {
      const c = b.content;
      switch (c.type) {
        case "code_execution_result":
          return { ...b, content: { ...c, stdout: w(c.stdout, ".content.stdout"), stderr: w(c.stderr, ".content.stderr") } };
        case "encrypted_code_execution_result":
          return { ...b, content: { ...c, stderr: w(c.stderr, ".content.stderr") } };
        case "code_execution_tool_result_error":
          return b;
        default: {
          const _exhaustive: never = c;
          return readUnknown(b, at, role, walk);
        }
      }
    }
    case "bash_code_execution_tool_result": {
      const c = b.content;
      if (c.type !== "bash_code_execution_result") return b;
      return { ...b, content: { ...c, stdout: w(c.stdout, ".content.stdout"), stderr: w(c.stderr, ".content.stderr") } };
    }
    case "text_editor_code_execution_tool_result": {
      const c = b.content;
      switch (c.type) {
        case "text_editor_code_execution_view_result":
          return { ...b, content: { ...c, content: w(c.content, ".content.content") } };
        case "text_editor_code_execution_str_replace_result":
          return Array.isArray(c.lines) ? { ...b, content: { ...c, lines: c.lines.map((line, k) => w(line, `.content.lines[${k}]`)) } } : b;
        case "text_editor_code_execution_tool_result_error":
          return typeof c.error_message === "string" ? { ...b, content: { ...c, error_message: w(c.error_message, ".content.error_message") } } : b;
        case "text_editor_code_execution_create_result":
          return b;
        default: {
          const _exhaustive: never = c;
          return readUnknown(b, at, role, walk);
        }
      }
    }
    case "tool_search_tool_result":
      if (b.content.type === "tool_search_tool_search_result") {
        for (const [k, r] of b.content.tool_references.entries()) read(r.tool_name, `.content.tool_references[${k}].tool_name`);
      }
      return b;
    default: {
      const unknown: never = b;
      return readUnknown(unknown, at, role, walk);
    }
  }
}

/** A citation as a text policy writes it (cited text and titles); URLs and sources stay. */
export function mapCitation(c: Citation, at: string, walk: Walk): Citation {
  return readCitation(c, at, "assistant", walk, "write") as Citation;
}

/**
 * A kind the SDK's types do not know (a newer API, a beta block): never a silent hole — its whole JSON is one read
 * carrier, so request-side checks see it; it passes unchanged.
 */
function readUnknown<T>(value: T, at: string, role: TextRole, walk: Walk): T {
  walk(asText(value), at, role, "read");
  return value;
}

/** Tripwire over stream deltas: every kind classified (text streams, thinking, citations, tool input, signatures). */
const DELTA_KINDS = {
  text_delta: "text",
  thinking_delta: "signed",
  citations_delta: "citation",
  input_json_delta: "call",
  signature_delta: "none",
} as const satisfies Record<RawContentBlockDelta["type"], string>;
void DELTA_KINDS;
