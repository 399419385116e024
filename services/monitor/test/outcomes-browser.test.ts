import { mkdirSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { createTestDatabase, REPO_ROOT, startNats, startService, startStack, waitFor, type RunningNats, type RunningService, type Stack, type TestDatabase } from "@luthien/testkit";
import type { Page } from "playwright-core";
import { ADMIN_KEY, AUTH, getJson, launchChromium } from "./helpers";
import { makeOutcomeCalls, OUTCOME_POLICIES, type OutcomeCalls } from "./outcome-calls";

/**
 * The monitor a safety engineer lives in, in Debian's Chromium against a real stack (calls made with the official
 * SDKs): outcome first, word-level diffs, the client's error body, a stream shown as it streams, filters in the URL,
 * sorting, export, the dashboard's charts, the config page, emoji without an emoji font, and every new field as
 * text. The screenshots it takes are the README's (docs/screenshots).
 */

const XSS = "<img src=x onerror=alert(1)>";
/** The README's screenshots are rewritten with UPDATE_SCREENSHOTS=1; otherwise they go to a scratch folder. */
const SHOTS = process.env["UPDATE_SCREENSHOTS"] === "1" ? path.join(REPO_ROOT, "docs", "screenshots") : mkdtempSync(path.join(tmpdir(), "luthien-screenshots-"));

let nats: RunningNats;
let db: TestDatabase;
let monitor: RunningService;
let stack: Stack;
let made: OutcomeCalls;
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
let xssCallId = "";
const dialogs: string[] = [];

/** @param height of the page from its top, beyond the window when larger @default the window's */
async function shot(name: string, height?: number): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, name);
  await page.screenshot({ path: file, ...(height !== undefined ? { fullPage: true, clip: { x: 0, y: 0, width: 1440, height } } : {}) });
  // A blank page compresses to almost nothing.
  expect(statSync(file).size).toBeGreaterThan(20_000);
}

const noMarkup = async (): Promise<void> => {
  expect(await page.locator("img").count()).toBe(0);
  expect(dialogs).toEqual([]);
};

beforeAll(async () => {
  [nats, db] = await Promise.all([startNats({ jetstream: true }), createTestDatabase()]);
  monitor = await startService("monitor", { env: { NATS_URL: nats.url, DATABASE_URL: db.url, ADMIN_API_KEY: ADMIN_KEY } });
  stack = await startStack({ natsUrl: nats.url, policies: OUTCOME_POLICIES, gatewayEnv: { ACTIVITY_CHUNKS: "on" }, engineEnv: { ENGINE_NAME: `engine-1${XSS}` } });
  made = await makeOutcomeCalls(stack);
  // Client-chosen fields carrying markup: a session, a model name, an answer.
  await stack.mockControl.script({ text: `fine ${XSS} done` });
  const openai = new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0, defaultHeaders: { "x-luthien-session-id": `sess${XSS}` } });
  const r = await openai.chat.completions.create({ model: `gpt-4o-mini${XSS}`, messages: [{ role: "user", content: "hi" }] }).withResponse();
  xssCallId = r.response.headers.get("x-luthien-call-id") ?? "";
  await waitFor(async () => (await getJson<{ calls: { verdict: string }[] }>(`${monitor.url}/api/calls?limit=200`)).calls.filter((c) => c.verdict !== "in_progress").length === 6, {
    timeoutMs: 20_000,
    what: "every call stored",
  });
  chromium = await launchChromium();
  page = chromium.page;
  await page.setViewportSize({ width: 1440, height: 900 });
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await page.goto(monitor.url);
  await page.locator("#login-key").fill(ADMIN_KEY);
  await page.locator("#login-form button[type=submit]").click();
  await page.locator("#view-home").waitFor({ state: "visible", timeout: 10_000 });
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await stack?.stop();
  await monitor?.stop();
  await db?.drop();
  await nats?.dispose();
});

describe("the monitor in Chromium", () => {
  it("lists every call outcome first: a blocked call that got a 200 reads blocked, with its policy and what it did", async () => {
    await page.goto(`${monitor.url}/#/`);
    const row = page.locator(`tr[data-call-id="${made.blocked.callId}"]`);
    await row.waitFor({ timeout: 15_000 });
    // The outcome is the first cell; the status the client got is there too, but after it.
    expect(await row.locator("td").first().locator(".verdict").textContent()).toBe("blocked");
    expect(
      await row
        .locator("td")
        .first()
        .locator(".verdict")
        .evaluate((e) => e.classList.contains("verdict-blocked")),
    ).toBe(true);
    expect(await row.locator(".decided-by").textContent()).toBe("by dangerous-commands");
    expect(await row.locator(".status").textContent()).toBe("200");
    expect(await row.locator(".change-summary").textContent()).toMatch(/^tool call Bash blocked: .*rm -rf \//);
    for (const [call, verdict] of [
      [made.allowed, "allowed"],
      [made.modified, "modified"],
      [made.denied, "denied"],
      [made.failed, "failed"],
    ] as const) {
      expect(await page.locator(`tr[data-call-id="${call.callId}"] td:first-child .verdict`).textContent()).toBe(verdict);
    }
    await shot("list.png");
    await noMarkup();
  });

  it("keeps filters in the URL (shareable), picks them from known values, sorts by column and exports what it shows", async () => {
    await page.goto(`${monitor.url}/#/`);
    await page.locator('#f-verdicts input[value="blocked"]').check();
    await page.waitForFunction(`location.hash.includes("verdict=blocked")`);
    await waitFor(async () => (await page.locator("#calls-body tr").count()) === 1, { timeoutMs: 10_000, what: "only the blocked call listed" });
    // The same URL in a fresh page shows the same list with the same filter set.
    const shared = page.url();
    await page.goto("about:blank");
    await page.goto(shared);
    await page.locator(`tr[data-call-id="${made.blocked.callId}"]`).waitFor({ timeout: 10_000 });
    expect(await page.locator("#calls-body tr").count()).toBe(1);
    expect(await page.locator('#f-verdicts input[value="blocked"]').isChecked()).toBe(true);
    // The export link carries the filters.
    const csv = await page.evaluate<string>(`fetch(document.getElementById("export-csv").href).then((r) => r.text())`);
    expect(csv.trimEnd().split("\r\n")).toHaveLength(2);
    expect(csv).toContain(made.blocked.callId);

    // Pickers list what calls have: policies and models.
    await page.locator("#f-reset").click();
    await waitFor(async () => (await page.locator("#f-policy option").allTextContents()).some((t) => t.startsWith("dangerous-commands")), { timeoutMs: 10_000, what: "policies listed" });
    expect(await page.locator("#dl-models option").evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value))).toEqual(
      expect.arrayContaining(["gpt-4o-mini", "claude-mock-sonnet"]),
    );
    await page.locator("#f-policy").selectOption("regex-filter");
    await page.waitForFunction(`location.hash.includes("policy=regex-filter")`);
    await waitFor(async () => (await page.locator("#calls-body tr").count()) === 1, { timeoutMs: 10_000, what: "the denied call alone" });
    await page.locator("#f-reset").click();

    // Sorted by latency, slowest first, as the API orders it.
    await page.locator('th[data-sort="latency"] button').click();
    await page.waitForFunction(`location.hash.includes("sort=latency")`);
    const api = await getJson<{ calls: { callId: string }[] }>(`${monitor.url}/api/calls?sort=latency&limit=50`, AUTH);
    await waitFor(
      async () =>
        JSON.stringify(await page.locator("#calls-body tr").evaluateAll((rs) => rs.map((r) => (r as unknown as { dataset: Record<string, string> }).dataset["callId"]))) ===
        JSON.stringify(api.calls.map((c) => c.callId)),
      {
        timeoutMs: 10_000,
        what: "rows in latency order",
      },
    );
    expect(await page.locator('th[data-sort="latency"]').getAttribute("aria-sort")).toBe("descending");
    // A time preset is part of the URL too.
    await page.locator('#f-presets button[data-since="15m"]').click();
    await page.waitForFunction(`location.hash.includes("since=15m")`);
    await page.locator("#f-reset").click();
    await noMarkup();
  });

  it("opens a blocked call outcome first, with the engine, chain and config that decided it; the block message's emoji has a font", async () => {
    await page.goto(`${monitor.url}/#/calls/${made.blocked.callId}`);
    await page.locator("#call-verdict.verdict-blocked").waitFor({ timeout: 10_000 });
    expect(await page.locator("#call-verdict").textContent()).toBe("blocked");
    expect(await page.locator("#call-summary").textContent()).toMatch(/^blocked by dangerous-commands: tool call Bash blocked: /);
    const facts = await page.locator("#call-facts").textContent();
    expect(facts).toContain(`Engineengine-1${XSS}`);
    expect(facts).toContain("Chaindefault");
    expect(facts).toContain(`Config version${made.configVersion}`);
    // The client got the block message; it starts with ⛔, drawn by the monitor's own emoji font.
    await page.locator("#response-diff td.ins", { hasText: "⛔ BLOCKED by dangerous-commands" }).first().waitFor({ timeout: 10_000 });
    await page.evaluate("document.fonts.ready.then(() => true)");
    expect(await page.evaluate(`[...document.fonts].some((f) => f.family.replace(/"/g, "") === "Noto Emoji" && f.status === "loaded")`)).toBe(true);
    expect(await page.evaluate(`document.fonts.check('16px "Noto Emoji"', "⛔")`)).toBe(true);
    await shot("blocked-call.png", 1560);
    await noMarkup();
  });

  it("marks the words a policy changed inside a line, and shows the error body a denied call's client received", async () => {
    await page.goto(`${monitor.url}/#/calls/${made.modified.callId}`);
    // The stored original has the key hidden by the monitor, the final has the policy's redaction: one line, a few
    // words apart.
    const cell = page.locator("#response-diff td.code", { has: page.locator("mark"), hasText: "keep it safe." }).first();
    await cell.waitFor({ timeout: 10_000 });
    const line = (await cell.textContent()) ?? "";
    const marked = (await cell.locator("mark").allTextContents()).join("");
    expect(marked.length).toBeGreaterThan(0);
    // Only the changed words are marked, not the line: "keep it safe." is in the line but unmarked.
    expect(line).toContain("keep it safe.");
    expect(marked).not.toContain("keep it safe");
    expect(marked.length).toBeLessThan(line.length / 2);
    expect(await page.locator("#error-body-card").isVisible()).toBe(false);

    await page.goto(`${monitor.url}/#/calls/${made.denied.callId}`);
    await page.locator("#error-body-card").waitFor({ state: "visible", timeout: 10_000 });
    expect(JSON.parse((await page.locator("#call-error-body").textContent()) ?? "")).toEqual(made.denied.errorBody);
    expect(await page.locator("#call-verdict").textContent()).toBe("denied");
    await noMarkup();
  });

  it("shows a stream's response as it streams, original and final side by side", async () => {
    const words = Array.from({ length: 30 }, (_, i) => `word${i} `);
    await stack.mockControl.script({ chunks: [`live ${XSS} `, ...words], chunkDelayMs: 250 });
    const openai = new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    const { data, response } = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "stream slowly" }], stream: true }).withResponse();
    const callId = response.headers.get("x-luthien-call-id") ?? "";
    let answer = "";
    const reading = (async () => {
      for await (const c of data) answer += c.choices[0]?.delta?.content ?? "";
    })();
    await page.goto(`${monitor.url}/#/calls/${callId}`);
    await page.locator("#live-card").waitFor({ state: "visible", timeout: 10_000 });
    await waitFor(async () => ((await page.locator("#live-final").textContent()) ?? "").includes("word3 "), { timeoutMs: 10_000, what: "part of the answer shown" });
    const partial = (await page.locator("#live-final").textContent()) ?? "";
    expect((await page.locator("#live-original").textContent()) ?? "").toContain(`live ${XSS}`);
    expect(partial.startsWith(`live ${XSS} word0 `)).toBe(true);
    expect(partial).not.toContain("word29");
    expect(await page.locator("#call-verdict").textContent()).toBe("in progress");
    await shot("live-stream.png");
    await reading;
    expect(answer).toBe(`live ${XSS} ${words.join("")}`);
    // Once it ends the page shows the whole call.
    await page.locator("#live-card").waitFor({ state: "hidden", timeout: 15_000 });
    await page.locator("#call-verdict.verdict-allowed").waitFor({ timeout: 10_000 });
    await noMarkup();
  }, 60_000);

  it("at the gateway's default (no chunk events) says so while a stream runs, and shows the whole call when it ends", async () => {
    const gateway = await startService("gateway", {
      env: { OPENAI_UPSTREAM_URL: `${stack.mock.url}/v1`, ANTHROPIC_UPSTREAM_URL: stack.mock.url, POLICY_ENGINE_URL: stack.engine?.address ?? "", NATS_URL: nats.url },
    });
    try {
      await stack.mockControl.script({ chunks: Array.from({ length: 12 }, (_, i) => `part${i} `), chunkDelayMs: 250 });
      const openai = new OpenAI({ apiKey: "k", baseURL: `${gateway.url}/v1`, maxRetries: 0 });
      const { data, response } = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "stream" }], stream: true }).withResponse();
      const callId = response.headers.get("x-luthien-call-id") ?? "";
      const reading = (async () => {
        for await (const _ of data);
      })();
      await page.goto(`${monitor.url}/#/calls/${callId}`);
      await page.locator("#live-note", { hasText: "ACTIVITY_CHUNKS is off" }).waitFor({ timeout: 10_000 });
      expect(await page.locator("#live-final").textContent()).toBe("");
      await reading;
      await page.locator("#call-verdict.verdict-allowed").waitFor({ timeout: 15_000 });
      await page.locator("#response-diff td.code", { hasText: "part11" }).first().waitFor({ timeout: 10_000 });
      expect(await page.locator("#live-card").isVisible()).toBe(false);
    } finally {
      await gateway.stop();
    }
  }, 60_000);

  it("charts requests, errors, latency, tokens and spend over time, and every figure opens its calls", async () => {
    await page.goto(`${monitor.url}/#/dashboard?since=1h`);
    await page.locator("#chart-requests canvas").waitFor({ timeout: 15_000 });
    await page.locator("#dash-totals .total").first().waitFor();
    expect(await page.locator("#dash-totals .total").first().textContent()).toBe("8requests");
    // Non-empty charts: the requests line is drawn in its colour.
    const drawn = await page.locator("#chart-requests canvas").evaluate((c) => {
      const canvas = c as unknown as {
        width: number;
        height: number;
        getContext(kind: "2d"): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
      };
      const px = canvas.getContext("2d")?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray();
      let n = 0;
      for (let i = 0; i < px.length; i += 4) if (Math.abs((px[i] ?? 0) - 79) < 8 && Math.abs((px[i + 1] ?? 0) - 70) < 8 && Math.abs((px[i + 2] ?? 0) - 229) < 8) n++;
      return n;
    });
    expect(drawn).toBeGreaterThan(20);
    for (const id of ["chart-latency", "chart-tokens", "chart-cost"]) expect(await page.locator(`#${id} canvas`).count()).toBe(1);
    expect(await page.locator("#dash-interventions tr", { hasText: "dangerous-commands" }).count()).toBe(1);
    expect(await page.locator("#dash-top-models").textContent()).toContain(`gpt-4o-mini${XSS}`);
    expect(await page.locator("#dash-top-sessions").textContent()).toContain(`sess${XSS}`);
    await shot("dashboard.png");
    // The blocked count opens the blocked calls of the range.
    await page.locator("#dash-verdicts a", { has: page.locator(".verdict-blocked") }).click();
    await page.waitForFunction(`location.hash.startsWith("#/?") && location.hash.includes("verdict=blocked")`);
    await page.locator(`tr[data-call-id="${made.blocked.callId}"]`).waitFor({ timeout: 10_000 });
    expect(await page.locator("#calls-body tr").count()).toBe(1);
    await noMarkup();
  });

  it("keeps config reloads on a page of their own; every new field stays text", async () => {
    await page.goto(`${monitor.url}/#/config`);
    await page.locator("#view-config").waitFor({ state: "visible" });
    expect(await page.locator("#view-home").isVisible()).toBe(false);
    await page.goto(`${monitor.url}/#/calls/${xssCallId}`);
    await page.locator("#call-facts", { hasText: `gpt-4o-mini${XSS}` }).waitFor({ timeout: 10_000 });
    expect(await page.locator("#call-facts").textContent()).toContain(`sess${XSS}`);
    await page.goto(`${monitor.url}/#/?model=${encodeURIComponent(`gpt-4o-mini${XSS}`)}`);
    await page.locator(`tr[data-call-id="${xssCallId}"]`).waitFor({ timeout: 10_000 });
    await page.waitForTimeout(300);
    await noMarkup();

    // A policy's reason quoting the command (the change line), and a provider's error message (the error body).
    await stack.mockControl.script({ text: "ok", toolCalls: [{ name: "Bash", arguments: JSON.stringify({ command: `rm -rf / # ${XSS}` }) }] });
    const openai = new OpenAI({ apiKey: "k", baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    const tools = [{ type: "function" as const, function: { name: "Bash", parameters: { type: "object" } } }];
    const blocked = await openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "go" }], tools }).withResponse();
    const blockedId = blocked.response.headers.get("x-luthien-call-id") ?? "";
    await stack.mockControl.script({ error: { status: 500, type: "server_error", message: `fell over ${XSS}` } });
    const failed = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
    });
    const failedBody = await failed.text();
    const failedId = failed.headers.get("x-luthien-call-id") ?? "";
    await page.goto(`${monitor.url}/#/`);
    const row = page.locator(`tr[data-call-id="${blockedId}"]`);
    await row.locator(".change-summary", { hasText: XSS }).waitFor({ timeout: 15_000 });
    await page.goto(`${monitor.url}/#/calls/${blockedId}`);
    await page.locator("#call-summary", { hasText: XSS }).waitFor({ timeout: 10_000 });
    await page.goto(`${monitor.url}/#/calls/${failedId}`);
    await page.locator("#error-body-card").waitFor({ state: "visible", timeout: 10_000 });
    expect(JSON.parse((await page.locator("#call-error-body").textContent()) ?? "")).toEqual(JSON.parse(failedBody));
    await page.waitForTimeout(300);
    await noMarkup();
  });
});
