import {
  ConversionError,
  DEFAULT_ANTHROPIC_MAX_TOKENS,
  THINKING_BUDGET_BY_EFFORT,
  openAIRequestToAnthropic,
  responsesRequestToAnthropic,
  type ResponsesInputItem,
  type ResponsesRequest,
} from "../src";
import { responsesRequest } from "./responses-fixtures";

const PNG = "iVBORw0KGgo=";
const convert = (over: Partial<ResponsesRequest>) => responsesRequestToAnthropic(responsesRequest(over));

/** A tool conversation as a stateless Responses client (store: false) sends it back. */
const toolConversation: ResponsesInputItem[] = [
  { role: "developer", content: "Be brief." },
  { role: "user", content: [{ type: "input_text", text: "List / and /tmp" }] },
  { type: "reasoning", id: "rs_1", summary: [{ type: "summary_text", text: "plan" }] },
  { type: "message", id: "msg_1", role: "assistant", status: "completed", content: [{ type: "output_text", text: "Listing both.", annotations: [] }] },
  { type: "function_call", id: "fc_1", call_id: "call_1", name: "ls", arguments: '{"path":"/"}' },
  { type: "function_call", call_id: "call_2", name: "ls", arguments: '{"path":"/tmp"}' },
  { type: "function_call_output", call_id: "call_1", output: "bin etc" },
  { type: "function_call_output", call_id: "call_2", output: [{ type: "input_text", text: "x.txt" }] },
  { role: "user", content: "Thanks" },
];

describe("responsesRequestToAnthropic", () => {
  it("maps a tool conversation: developer text to system, calls to tool_use, outputs merged with the next user turn", () => {
    const req = convert({ input: toolConversation, instructions: "You are terse." });
    expect(req.system).toEqual([
      { type: "text", text: "You are terse." },
      { type: "text", text: "Be brief." },
    ]);
    expect(req.messages).toEqual([
      { role: "user", content: [{ type: "text", text: "List / and /tmp" }] },
      {
        role: "assistant",
        content: [
          { type: "text", text: "Listing both." },
          { type: "tool_use", id: "call_1", name: "ls", input: { path: "/" } },
          { type: "tool_use", id: "call_2", name: "ls", input: { path: "/tmp" } },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "call_1", content: "bin etc" },
          { type: "tool_result", tool_use_id: "call_2", content: [{ type: "text", text: "x.txt" }] },
          { type: "text", text: "Thanks" },
        ],
      },
    ]);
    expect(req).toMatchObject({ model: "claude-x", max_tokens: DEFAULT_ANTHROPIC_MAX_TOKENS });
    expect(req.stream).toBeUndefined();
  });

  it("turns a string input into one user message and instructions alone into a string system", () => {
    expect(convert({ input: "Hello", instructions: "Be kind." })).toEqual({
      model: "claude-x",
      max_tokens: DEFAULT_ANTHROPIC_MAX_TOKENS,
      system: "Be kind.",
      messages: [{ role: "user", content: [{ type: "text", text: "Hello" }] }],
    });
  });

  it("maps images (data: and http URLs), PDFs and refusals; drops empty text", () => {
    const req = convert({
      input: [
        {
          role: "user",
          content: [
            { type: "input_text", text: "" },
            { type: "input_text", text: "Look" },
            { type: "input_image", detail: "auto", image_url: `data:image/png;base64,${PNG}` },
            { type: "input_image", detail: "low", image_url: "https://x.test/a.jpg" },
            { type: "input_file", file_data: "data:application/pdf;base64,JVBE", filename: "a.pdf" },
          ],
        },
        { type: "message", id: "msg_0", role: "assistant", status: "completed", content: [{ type: "refusal", refusal: "I won't." }] },
      ],
    });
    expect(req.messages).toEqual([
      {
        role: "user",
        content: [
          { type: "text", text: "Look" },
          { type: "image", source: { type: "base64", media_type: "image/png", data: PNG } },
          { type: "image", source: { type: "url", url: "https://x.test/a.jpg" } },
          { type: "document", source: { type: "base64", media_type: "application/pdf", data: "JVBE" }, title: "a.pdf" },
        ],
      },
      { role: "assistant", content: [{ type: "text", text: "I won't." }] },
    ]);
  });

  it("maps images in a function call's output", () => {
    const req = convert({
      input: [
        { type: "function_call", call_id: "c", name: "shot", arguments: "" },
        { type: "function_call_output", call_id: "c", output: [{ type: "input_image", image_url: `data:image/png;base64,${PNG}` }] },
      ],
    });
    expect(req.messages).toEqual([
      { role: "assistant", content: [{ type: "tool_use", id: "c", name: "shot", input: {} }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "c", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: PNG } }] }] },
    ]);
  });

  it("drops reasoning items, but replays one carrying encrypted_content as a signed thinking block", () => {
    const req = convert({
      input: [
        { role: "user", content: "hi" },
        { type: "reasoning", id: "rs_a", summary: [{ type: "summary_text", text: "dropped" }] },
        {
          type: "reasoning",
          id: "rs_b",
          summary: [
            { type: "summary_text", text: "Let me " },
            { type: "summary_text", text: "check." },
          ],
          encrypted_content: "sig",
        },
        { type: "function_call", call_id: "c", name: "ls", arguments: "{}" },
      ],
    });
    expect(req.messages[1]).toEqual({
      role: "assistant",
      content: [
        { type: "thinking", thinking: "Let me check.", signature: "sig" },
        { type: "tool_use", id: "c", name: "ls", input: {} },
      ],
    });
  });

  it("maps function tools, tool_choice and parallel_tool_calls", () => {
    const tools: ResponsesRequest["tools"] = [
      { type: "function", name: "ls", description: "List", parameters: { type: "object", properties: { path: { type: "string" } } }, strict: true },
      { type: "function", name: "now", parameters: null, strict: null },
    ];
    const req = convert({ tools, tool_choice: { type: "function", name: "ls" }, parallel_tool_calls: false });
    expect(req.tools).toEqual([
      { name: "ls", description: "List", input_schema: { type: "object", properties: { path: { type: "string" } } }, strict: true },
      { name: "now", input_schema: { type: "object" } },
    ]);
    expect(req.tool_choice).toEqual({ type: "tool", name: "ls", disable_parallel_tool_use: true });
    expect(convert({ tools, tool_choice: "required" }).tool_choice).toEqual({ type: "any" });
    expect(convert({ tools, tool_choice: "none" }).tool_choice).toEqual({ type: "none" });
    expect(convert({ tools, tool_choice: "auto" }).tool_choice).toEqual({ type: "auto" });
    expect(convert({ tool_choice: "required" }).tool_choice).toBeUndefined();
  });

  it("maps limits, sampling, user, structured output and stream; ignores store", () => {
    const req = convert({
      max_output_tokens: 300,
      temperature: 1.5,
      top_p: 0.9,
      user: "u1",
      store: true,
      stream: true,
      metadata: { user_id: "ignored-for-user" },
      text: { format: { type: "json_schema", name: "answer", schema: { type: "object", properties: { a: { type: "number" } } } }, verbosity: "low" },
    });
    expect(req).toEqual({
      model: "claude-x",
      max_tokens: 300,
      messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }],
      temperature: 1,
      top_p: 0.9,
      metadata: { user_id: "u1" },
      output_config: { format: { type: "json_schema", schema: { type: "object", properties: { a: { type: "number" } } } } },
      stream: true,
    });
    expect(convert({ safety_identifier: "s1", user: "u1" }).metadata).toEqual({ user_id: "s1" });
    expect(convert({ metadata: { user_id: "m1", team: "x" } }).metadata).toEqual({ user_id: "m1" });
    expect(convert({ metadata: { team: "x" } }).metadata).toBeUndefined();
  });

  it("maps reasoning.effort as openAIRequestToAnthropic maps reasoning_effort", () => {
    for (const effort of ["none", "minimal", "low", "medium", "high", "xhigh", "max"] as const) {
      for (const max of [undefined, 800, 2000, 50000]) {
        const responses = convert({ reasoning: { effort }, temperature: 0.5, ...(max !== undefined ? { max_output_tokens: max } : {}) });
        const chat = openAIRequestToAnthropic({
          model: "claude-x",
          messages: [{ role: "user", content: "hi" }],
          reasoning_effort: effort,
          temperature: 0.5,
          ...(max !== undefined ? { max_completion_tokens: max } : {}),
        });
        expect(responses).toEqual(chat);
      }
    }
    expect(convert({ reasoning: { effort: "high" } }).thinking).toEqual({ type: "enabled", budget_tokens: THINKING_BUDGET_BY_EFFORT.high });
  });

  // `undefined` in a case leaves the field out (the cases' type allows it, for "a missing model").
  it.each<[string, { [K in keyof ResponsesRequest]?: ResponsesRequest[K] | undefined }, RegExp]>([
    ["previous_response_id", { previous_response_id: "resp_1" }, /^previous_response_id cannot be converted: the provider keeps no OpenAI state/],
    ["conversation", { conversation: "conv_1" }, /^conversation cannot be converted/],
    ["background", { background: true }, /^background: true cannot be converted/],
    ["prompt templates", { prompt: { id: "pmpt_1" } }, /^prompt cannot be converted: prompt templates are stored at OpenAI/],
    ["context_management", { context_management: [{ type: "compaction" }] }, /^context_management cannot be converted/],
    ["web_search", { tools: [{ type: "web_search" }] }, /^tools\[0\]: the built-in tool web_search cannot be converted/],
    ["file_search", { tools: [{ type: "file_search", vector_store_ids: ["vs"] }] }, /^tools\[0\]: the built-in tool file_search/],
    ["code_interpreter", { tools: [{ type: "code_interpreter", container: { type: "auto" } }] }, /built-in tool code_interpreter/],
    ["image_generation", { tools: [{ type: "image_generation" }] }, /built-in tool image_generation/],
    ["mcp", { tools: [{ type: "mcp", server_label: "x", server_url: "https://x.test" }] }, /built-in tool mcp/],
    ["computer", { tools: [{ type: "computer_use_preview", display_height: 1, display_width: 1, environment: "linux" }] }, /built-in tool computer_use_preview/],
    ["custom tools", { tools: [{ type: "custom", name: "x" }] }, /^tools\[0\]: custom \(freeform\) tools cannot be converted/],
    ["a hosted tool_choice", { tool_choice: { type: "web_search_preview" } }, /^tool_choice web_search_preview cannot be converted/],
    ["allowed_tools", { tool_choice: { type: "allowed_tools", mode: "auto", tools: [] } }, /^tool_choice allowed_tools/],
    ["json_object output", { text: { format: { type: "json_object" } } }, /^text.format json_object cannot be converted/],
    ["item_reference", { input: [{ type: "item_reference", id: "msg_1" }] }, /^input\[0\]: item_reference cannot be converted/],
    ["an untyped item reference", { input: [{ id: "msg_1" }] }, /^input\[0\]: item_reference/],
    [
      "built-in tool items",
      { input: [{ type: "web_search_call", id: "ws", status: "completed", action: { type: "search", query: "q" } }] },
      /^input\[0\]: web_search_call items cannot be converted/,
    ],
    ["compaction items", { input: [{ type: "compaction", encrypted_content: "x" }] }, /^input\[0\]: compaction items cannot be converted/],
    ["file-id images", { input: [{ role: "user", content: [{ type: "input_image", detail: "auto", file_id: "file_1" }] }] }, /^input\[0\].content\[0\]: an image given by file_id/],
    ["file ids", { input: [{ role: "user", content: [{ type: "input_file", file_id: "file_1" }] }] }, /^input\[0\].content\[0\]: only a PDF given as file_data/],
    [
      "images in system messages",
      { input: [{ role: "system", content: [{ type: "input_image", detail: "auto", image_url: "https://x.test/a.png" }] }] },
      /^input\[0\].content\[0\]: input_image cannot be converted: system and developer messages carry text only/,
    ],
    ["arguments that are not an object", { input: [{ type: "function_call", call_id: "c", name: "f", arguments: "[1]" }] }, /^input\[0\].arguments must be a JSON object/],
    ["a non-object parameters schema", { tools: [{ type: "function", name: "f", parameters: { type: "array" }, strict: null }] }, /^tools\[0\].parameters must describe an object/],
    ["a missing model", { model: undefined }, /^model is required/],
    ["a missing input", { input: undefined }, /^input is required/],
  ])("refuses %s with a ConversionError naming it", (_name, over, message) => {
    const req = { ...responsesRequest(), ...over } as ResponsesRequest;
    expect(() => responsesRequestToAnthropic(req)).toThrow(ConversionError);
    expect(() => responsesRequestToAnthropic(req)).toThrow(message);
  });

  it("accepts store, include, truncation and other settings that change nothing it sends", () => {
    const plain = convert({});
    expect(
      convert({
        store: false,
        include: ["reasoning.encrypted_content", "message.output_text.logprobs"],
        truncation: "auto",
        service_tier: "flex",
        top_logprobs: 2,
        prompt_cache_key: "k",
        text: { format: { type: "text" }, verbosity: "high" },
        previous_response_id: null,
        conversation: null,
        background: false,
        prompt: null,
      }),
    ).toEqual(plain);
  });
});
