import {
  ConversionError,
  DEFAULT_ANTHROPIC_MAX_TOKENS,
  TOOL_RESULT_IMAGE_NOTE,
  anthropicRequestToOpenAI,
  openAIRequestToAnthropic,
  type AnthropicRequest,
  type ChatCompletionCreateParams,
  type ChatCompletionMessageParam,
} from "../src";

const PNG = "iVBORw0KGgo=";

const openAI = (messages: ChatCompletionMessageParam[], extra: Partial<ChatCompletionCreateParams> = {}): ChatCompletionCreateParams =>
  ({ model: "claude-x", messages, ...extra }) as ChatCompletionCreateParams;

const anthropic = (messages: AnthropicRequest["messages"], extra: Partial<AnthropicRequest> = {}): AnthropicRequest =>
  ({ model: "gpt-x", max_tokens: 256, messages, ...extra }) as AnthropicRequest;

/** A tool conversation as an OpenAI client sends it. */
const toolConversation: ChatCompletionMessageParam[] = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "List files in / and /tmp" },
  {
    role: "assistant",
    content: "Listing both.",
    tool_calls: [
      { id: "call_1", type: "function", function: { name: "ls", arguments: '{"path":"/"}' } },
      { id: "call_2", type: "function", function: { name: "ls", arguments: '{"path":"/tmp"}' } },
    ],
  },
  { role: "tool", tool_call_id: "call_1", content: "bin etc" },
  { role: "tool", tool_call_id: "call_2", content: "x.txt" },
  { role: "user", content: "Thanks" },
];

describe("openAIRequestToAnthropic", () => {
  it("maps a tool conversation: system, tool calls, tool results merged into one user turn", () => {
    const req = openAIRequestToAnthropic(openAI(toolConversation));
    expect(req.system).toBe("Be brief.");
    expect(req.messages).toEqual([
      { role: "user", content: [{ type: "text", text: "List files in / and /tmp" }] },
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
          { type: "tool_result", tool_use_id: "call_2", content: "x.txt" },
          { type: "text", text: "Thanks" },
        ],
      },
    ]);
  });

  it("collects several system and developer messages into system text blocks", () => {
    const req = openAIRequestToAnthropic(
      openAI([
        { role: "system", content: "One." },
        { role: "developer", content: [{ type: "text", text: "Two." }] },
        { role: "user", content: "hi" },
      ]),
    );
    expect(req.system).toEqual([
      { type: "text", text: "One." },
      { type: "text", text: "Two." },
    ]);
  });

  it("merges consecutive messages of one role so roles alternate", () => {
    const req = openAIRequestToAnthropic(
      openAI([
        { role: "user", content: "a" },
        { role: "user", content: "b" },
        { role: "assistant", content: "c" },
      ]),
    );
    expect(req.messages).toEqual([
      {
        role: "user",
        content: [
          { type: "text", text: "a" },
          { type: "text", text: "b" },
        ],
      },
      { role: "assistant", content: [{ type: "text", text: "c" }] },
    ]);
  });

  it("maps image parts: data: URLs to base64 sources, http URLs to url sources", () => {
    const req = openAIRequestToAnthropic(
      openAI([
        {
          role: "user",
          content: [
            { type: "text", text: "What is this?" },
            { type: "image_url", image_url: { url: `data:image/png;base64,${PNG}`, detail: "high" } },
            { type: "image_url", image_url: { url: "https://example.com/cat.jpg" } },
          ],
        },
      ]),
    );
    expect(req.messages[0]?.content).toEqual([
      { type: "text", text: "What is this?" },
      { type: "image", source: { type: "base64", media_type: "image/png", data: PNG } },
      { type: "image", source: { type: "url", url: "https://example.com/cat.jpg" } },
    ]);
  });

  it("maps a PDF file part to a document block", () => {
    const req = openAIRequestToAnthropic(openAI([{ role: "user", content: [{ type: "file", file: { file_data: "data:application/pdf;base64,JVBE", filename: "a.pdf" } }] }]));
    expect(req.messages[0]?.content).toEqual([{ type: "document", source: { type: "base64", media_type: "application/pdf", data: "JVBE" }, title: "a.pdf" }]);
  });

  it("maps function tools, defaulting input_schema to an object", () => {
    const req = openAIRequestToAnthropic(
      openAI([{ role: "user", content: "hi" }], {
        tools: [
          { type: "function", function: { name: "ls", description: "List", parameters: { type: "object", properties: { path: { type: "string" } }, required: ["path"] }, strict: true } },
          { type: "function", function: { name: "now" } },
        ],
      }),
    );
    expect(req.tools).toEqual([
      { name: "ls", description: "List", input_schema: { type: "object", properties: { path: { type: "string" } }, required: ["path"] }, strict: true },
      { name: "now", input_schema: { type: "object" } },
    ]);
  });

  it.each<[ChatCompletionCreateParams["tool_choice"], boolean | undefined, unknown]>([
    ["auto", undefined, { type: "auto" }],
    ["none", undefined, { type: "none" }],
    ["required", undefined, { type: "any" }],
    [{ type: "function", function: { name: "ls" } }, undefined, { type: "tool", name: "ls" }],
    ["auto", false, { type: "auto", disable_parallel_tool_use: true }],
    ["required", false, { type: "any", disable_parallel_tool_use: true }],
    [undefined, false, { type: "auto", disable_parallel_tool_use: true }],
    [undefined, undefined, undefined],
  ])("maps tool_choice %j with parallel_tool_calls %s", (choice, parallel, expected) => {
    const req = openAIRequestToAnthropic(
      openAI([{ role: "user", content: "hi" }], {
        tools: [{ type: "function", function: { name: "ls" } }],
        ...(choice !== undefined ? { tool_choice: choice } : {}),
        ...(parallel !== undefined ? { parallel_tool_calls: parallel } : {}),
      }),
    );
    expect(req.tool_choice).toEqual(expected);
  });

  it("leaves tool_choice out when there are no tools", () => {
    expect(openAIRequestToAnthropic(openAI([{ role: "user", content: "hi" }], { tool_choice: "required" })).tool_choice).toBeUndefined();
  });

  it("maps stop, token limits, sampling, user and stream", () => {
    const req = openAIRequestToAnthropic(
      openAI([{ role: "user", content: "hi" }], {
        stop: "END",
        max_tokens: 100,
        temperature: 1.5,
        top_p: 0.9,
        user: "u-1",
        stream: true,
        stream_options: { include_usage: true },
        logprobs: true,
        seed: 3,
      }),
    );
    expect(req).toEqual({
      model: "claude-x",
      messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }],
      stop_sequences: ["END"],
      max_tokens: 100,
      temperature: 1,
      top_p: 0.9,
      metadata: { user_id: "u-1" },
      stream: true,
    });
  });

  it("prefers max_completion_tokens and defaults max_tokens", () => {
    const base = [{ role: "user" as const, content: "hi" }];
    expect(openAIRequestToAnthropic(openAI(base, { max_tokens: 10, max_completion_tokens: 20 })).max_tokens).toBe(20);
    expect(openAIRequestToAnthropic(openAI(base)).max_tokens).toBe(DEFAULT_ANTHROPIC_MAX_TOKENS);
    expect(openAIRequestToAnthropic(openAI(base, { stop: ["a", "b"] })).stop_sequences).toEqual(["a", "b"]);
  });

  it("maps reasoning_effort to a thinking budget and drops sampling that thinking forbids", () => {
    const base = [{ role: "user" as const, content: "hi" }];
    const open = openAIRequestToAnthropic(openAI(base, { reasoning_effort: "medium", temperature: 0.2 }));
    expect(open.thinking).toEqual({ type: "enabled", budget_tokens: 4096 });
    expect(open.max_tokens).toBe(DEFAULT_ANTHROPIC_MAX_TOKENS + 4096);
    expect(open.temperature).toBeUndefined();
    const capped = openAIRequestToAnthropic(openAI(base, { reasoning_effort: "high", max_completion_tokens: 2000 }));
    expect(capped.thinking).toEqual({ type: "enabled", budget_tokens: 1999 });
    expect(capped.max_tokens).toBe(2000);
    expect(openAIRequestToAnthropic(openAI(base, { reasoning_effort: "low", max_tokens: 500 })).thinking).toBeUndefined();
    expect(openAIRequestToAnthropic(openAI(base, { reasoning_effort: "none" })).thinking).toEqual({ type: "disabled" });
    const forced = openAIRequestToAnthropic(openAI(base, { reasoning_effort: "high", tools: [{ type: "function", function: { name: "ls" } }], tool_choice: "required" }));
    expect(forced.thinking).toBeUndefined();
  });

  it("maps a json_schema response_format to output_config", () => {
    const req = openAIRequestToAnthropic(
      openAI([{ role: "user", content: "hi" }], {
        response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "object" } } },
      }),
    );
    expect(req.output_config).toEqual({ format: { type: "json_schema", schema: { type: "object" } } });
  });

  it("treats empty tool arguments as no arguments", () => {
    const req = openAIRequestToAnthropic(openAI([{ role: "assistant", tool_calls: [{ id: "c", type: "function", function: { name: "now", arguments: "" } }] }]));
    expect(req.messages[0]?.content).toEqual([{ type: "tool_use", id: "c", name: "now", input: {} }]);
  });

  it.each<[string, ChatCompletionCreateParams, RegExp]>([
    ["n > 1", openAI([{ role: "user", content: "hi" }], { n: 2 }), /n: 2/],
    ["audio output", openAI([{ role: "user", content: "hi" }], { modalities: ["text", "audio"] }), /audio/],
    [
      "invalid tool-call JSON",
      openAI([{ role: "assistant", tool_calls: [{ id: "c", type: "function", function: { name: "ls", arguments: "{oops" } }] }]),
      /messages\[0\]\.tool_calls\[0\]\.function\.arguments is not valid JSON/,
    ],
    [
      "non-object tool-call JSON",
      openAI([{ role: "assistant", tool_calls: [{ id: "c", type: "function", function: { name: "ls", arguments: "[1]" } }] }]),
      /must be a JSON object, got an array/,
    ],
    ["an unsupported image type", openAI([{ role: "user", content: [{ type: "image_url", image_url: { url: "data:image/bmp;base64,AA" } }] }]), /image\/bmp/],
    ["an ftp image", openAI([{ role: "user", content: [{ type: "image_url", image_url: { url: "ftp://x/y.png" } }] }]), /data: URL or an http/],
    ["audio input", openAI([{ role: "user", content: [{ type: "input_audio", input_audio: { data: "AA", format: "wav" } }] }]), /audio input/],
    ["a file id", openAI([{ role: "user", content: [{ type: "file", file: { file_id: "file-1" } }] }]), /PDF/],
    ["legacy function messages", openAI([{ role: "function", name: "f", content: "x" }]), /legacy/],
    ["custom tools", openAI([{ role: "user", content: "hi" }], { tools: [{ type: "custom", custom: { name: "c" } }] }), /custom tools/],
  ])("throws ConversionError for %s", (_, req, message) => {
    expect(() => openAIRequestToAnthropic(req)).toThrow(ConversionError);
    expect(() => openAIRequestToAnthropic(req)).toThrow(message);
  });
});

describe("anthropicRequestToOpenAI", () => {
  it("maps a tool conversation: tool_use to tool_calls, tool_result to tool messages before the user's text", () => {
    const req = anthropicRequestToOpenAI(
      anthropic(
        [
          { role: "user", content: "List /" },
          {
            role: "assistant",
            content: [
              { type: "thinking", thinking: "hmm", signature: "s" },
              { type: "text", text: "Listing." },
              { type: "tool_use", id: "toolu_1", name: "ls", input: { path: "/" } },
              { type: "tool_use", id: "toolu_2", name: "ls", input: { path: "/tmp" } },
            ],
          },
          {
            role: "user",
            content: [
              {
                type: "tool_result",
                tool_use_id: "toolu_1",
                content: [
                  { type: "text", text: "bin" },
                  { type: "text", text: "etc" },
                ],
              },
              { type: "tool_result", tool_use_id: "toolu_2", content: "denied", is_error: true },
              { type: "text", text: "Thanks" },
            ],
          },
        ],
        { system: "Be brief." },
      ),
    );
    expect(req.messages).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "List /" },
      {
        role: "assistant",
        content: "Listing.",
        tool_calls: [
          { id: "toolu_1", type: "function", function: { name: "ls", arguments: '{"path":"/"}' } },
          { id: "toolu_2", type: "function", function: { name: "ls", arguments: '{"path":"/tmp"}' } },
        ],
      },
      { role: "tool", tool_call_id: "toolu_1", content: "bin\netc" },
      { role: "tool", tool_call_id: "toolu_2", content: "Error: denied" },
      { role: "user", content: "Thanks" },
    ]);
  });

  it("maps system blocks (cache_control dropped) and system-role messages", () => {
    const req = anthropicRequestToOpenAI(
      anthropic(
        [
          { role: "user", content: "hi" },
          { role: "system", content: "Later rule." },
        ],
        {
          system: [
            { type: "text", text: "A", cache_control: { type: "ephemeral" } },
            { type: "text", text: "B" },
          ],
        },
      ),
    );
    expect(req.messages).toEqual([
      {
        role: "system",
        content: [
          { type: "text", text: "A" },
          { type: "text", text: "B" },
        ],
      },
      { role: "user", content: "hi" },
      { role: "system", content: "Later rule." },
    ]);
  });

  it("maps images and text documents to content parts", () => {
    const req = anthropicRequestToOpenAI(
      anthropic([
        {
          role: "user",
          content: [
            { type: "text", text: "Compare" },
            { type: "image", source: { type: "base64", media_type: "image/png", data: PNG } },
            { type: "image", source: { type: "url", url: "https://example.com/a.jpg" } },
            { type: "document", source: { type: "text", media_type: "text/plain", data: "notes" } },
          ],
        },
      ]),
    );
    expect(req.messages).toEqual([
      {
        role: "user",
        content: [
          { type: "text", text: "Compare" },
          { type: "image_url", image_url: { url: `data:image/png;base64,${PNG}` } },
          { type: "image_url", image_url: { url: "https://example.com/a.jpg" } },
          { type: "text", text: "notes" },
        ],
      },
    ]);
  });

  it("moves images of a tool result into the following user message", () => {
    const req = anthropicRequestToOpenAI(
      anthropic([
        {
          role: "user",
          content: [
            {
              type: "tool_result",
              tool_use_id: "t",
              content: [
                { type: "text", text: "screenshot:" },
                { type: "image", source: { type: "base64", media_type: "image/png", data: PNG } },
              ],
            },
          ],
        },
      ]),
    );
    expect(req.messages).toEqual([
      { role: "tool", tool_call_id: "t", content: `screenshot:\n${TOOL_RESULT_IMAGE_NOTE}` },
      { role: "user", content: [{ type: "image_url", image_url: { url: `data:image/png;base64,${PNG}` } }] },
    ]);
  });

  it("maps tools and tool_choice, with disable_parallel_tool_use", () => {
    const tools: AnthropicRequest["tools"] = [{ name: "ls", description: "List", input_schema: { type: "object", properties: { p: { type: "string" } } } }];
    const req = anthropicRequestToOpenAI(anthropic([{ role: "user", content: "hi" }], { tools, tool_choice: { type: "any", disable_parallel_tool_use: true } }));
    expect(req.tools).toEqual([{ type: "function", function: { name: "ls", description: "List", parameters: { type: "object", properties: { p: { type: "string" } } } } }]);
    expect(req.tool_choice).toBe("required");
    expect(req.parallel_tool_calls).toBe(false);
    const choices: [AnthropicRequest["tool_choice"], unknown][] = [
      [{ type: "auto" }, "auto"],
      [{ type: "none" }, "none"],
      [
        { type: "tool", name: "ls" },
        { type: "function", function: { name: "ls" } },
      ],
    ];
    for (const [choice, expected] of choices) {
      const r = anthropicRequestToOpenAI(anthropic([{ role: "user", content: "hi" }], { tools, ...(choice !== undefined ? { tool_choice: choice } : {}) }));
      expect(r.tool_choice).toEqual(expected);
      expect(r.parallel_tool_calls).toBeUndefined();
    }
  });

  it("maps stop_sequences, max_tokens, sampling, metadata.user_id and streaming with usage", () => {
    const req = anthropicRequestToOpenAI(
      anthropic([{ role: "user", content: "hi" }], {
        stop_sequences: ["END"],
        temperature: 0.3,
        top_p: 0.8,
        top_k: 5,
        metadata: { user_id: "user_abc" },
        stream: true,
        thinking: { type: "enabled", budget_tokens: 2000 },
      }),
    );
    expect(req).toEqual({
      model: "gpt-x",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 256,
      stop: ["END"],
      temperature: 0.3,
      top_p: 0.8,
      user: "user_abc",
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it("puts max_tokens in max_completion_tokens when asked", () => {
    const req = anthropicRequestToOpenAI(anthropic([{ role: "user", content: "hi" }]), { maxTokensField: "max_completion_tokens" });
    expect(req.max_completion_tokens).toBe(256);
    expect(req.max_tokens).toBeUndefined();
  });

  it.each<[string, AnthropicRequest, RegExp]>([
    ["Anthropic-defined tools", anthropic([{ role: "user", content: "hi" }], { tools: [{ type: "bash_20250124", name: "bash" }] }), /bash_20250124 is an Anthropic-defined tool/],
    ["server tool blocks", anthropic([{ role: "assistant", content: [{ type: "server_tool_use", id: "s", name: "web_search", input: {} }] }]), /server tools/],
    ["file-id images", anthropic([{ role: "user", content: [{ type: "image", source: { type: "file", file_id: "f" } }] }]), /file_id/],
    ["URL documents", anthropic([{ role: "user", content: [{ type: "document", source: { type: "url", url: "https://x/a.pdf" } }] }]), /URL/],
    ["images in assistant turns", anthropic([{ role: "assistant", content: [{ type: "image", source: { type: "url", url: "https://x/a.png" } }] }]), /assistant turn/],
  ])("throws ConversionError for %s", (_, req, message) => {
    expect(() => anthropicRequestToOpenAI(req)).toThrow(ConversionError);
    expect(() => anthropicRequestToOpenAI(req)).toThrow(message);
  });
});

describe("request round trip", () => {
  it("OpenAI → Anthropic → OpenAI keeps a tool conversation's meaning", () => {
    const back = anthropicRequestToOpenAI(openAIRequestToAnthropic(openAI(toolConversation, { max_tokens: 50 })));
    expect(back.messages).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "List files in / and /tmp" },
      {
        role: "assistant",
        content: "Listing both.",
        tool_calls: [
          { id: "call_1", type: "function", function: { name: "ls", arguments: '{"path":"/"}' } },
          { id: "call_2", type: "function", function: { name: "ls", arguments: '{"path":"/tmp"}' } },
        ],
      },
      { role: "tool", tool_call_id: "call_1", content: "bin etc" },
      { role: "tool", tool_call_id: "call_2", content: "x.txt" },
      { role: "user", content: "Thanks" },
    ]);
    expect(back.max_tokens).toBe(50);
  });
});
