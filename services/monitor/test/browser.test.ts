import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { createTestDatabase, startNats, startService, type RunningNats, type RunningService, type TestDatabase } from "@luthien/testkit";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { ADMIN_KEY, createPublishers, publishCall } from "./helpers";

const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const XSS = "<img src=x onerror=alert(1)>";

let nats: RunningNats;
let db: TestDatabase;
let monitor: RunningService;
let pubs: ReturnType<typeof createPublishers>;
let userDataDir: string;
let browser: BrowserContext;
let page: Page;
const dialogs: string[] = [];

beforeAll(async () => {
  [nats, db] = await Promise.all([startNats({ jetstream: true }), createTestDatabase()]);
  monitor = await startService("monitor", { env: { NATS_URL: nats.url, DATABASE_URL: db.url, ADMIN_API_KEY: ADMIN_KEY } });
  pubs = createPublishers(nats.url);
  userDataDir = mkdtempSync(path.join(tmpdir(), "luthien-chromium-"));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await pubs?.close();
  await monitor?.stop();
  await db?.drop();
  await nats?.dispose();
  if (userDataDir !== undefined) rmSync(userDataDir, { recursive: true, force: true });
});

describe("monitor UI in Chromium", () => {
  it("logs in, shows a new call live, and opens it with the diff; model output stays text", async () => {
    await page.goto(monitor.url);
    await page.locator("#login-key").fill("wrong-key");
    await page.locator("#login-form button[type=submit]").click();
    await page.locator("#login-error").getByText("not right").waitFor({ timeout: 10_000 });
    await page.locator("#login-key").fill(ADMIN_KEY);
    await page.locator("#login-form button[type=submit]").click();
    await page.locator("#view-home").waitFor({ state: "visible", timeout: 10_000 });
    await page.locator("#live-dot.on").waitFor({ timeout: 10_000 });

    publishCall(pubs, {
      callId: "browser-call-1",
      model: "gpt-4o-mini",
      prompt: `Please answer with ${XSS}`,
      answer: `Here it is: ${XSS} and the quick brown fox`,
      finalAnswer: `HERE IT IS: ${XSS} AND THE QUICK BROWN FOX`,
    });
    await pubs.flush();

    // Live: the feed and the calls table update without a reload.
    await page.locator("#feed .feed-row", { hasText: "call.started" }).first().waitFor({ timeout: 15_000 });
    const row = page.locator('tr[data-call-id="browser-call-1"]');
    await row.waitFor({ timeout: 15_000 });
    await row.locator(".badge.policy", { hasText: "all-caps.response_modified" }).waitFor({ timeout: 15_000 });

    await row.click();
    await page.locator("#view-call").waitFor({ state: "visible" });
    await page.locator("#call-id", { hasText: "browser-call-1" }).waitFor();
    const responseDiff = page.locator("#response-diff");
    await responseDiff.locator("td.del").first().waitFor({ timeout: 10_000 });
    expect(await responseDiff.locator(".diff-note").textContent()).toMatch(/Changed by policy/);
    expect(await responseDiff.locator("td.del").allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining(`Here it is: ${XSS}`)]));
    expect(await responseDiff.locator("td.ins").allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining(`HERE IT IS: ${XSS}`)]));
    expect(await page.locator("#request-diff .diff-note").textContent()).toMatch(/Unchanged/);
    expect(await page.locator("#call-actions .badge.policy").allTextContents()).toEqual(["all-caps.response_modified"]);

    // The markup is text on the page, never an element, and nothing ran.
    expect(await page.locator("#request-diff").textContent()).toContain(XSS);
    expect(await page.locator("img").count()).toBe(0);
    await page.waitForTimeout(300);
    expect(dialogs).toEqual([]);
  }, 60_000);

  it("says how originals are stored, hides a secret in the original, and lists config changes apart from calls", async () => {
    const key = "sk-ant-api03-" + "Qw3Er4Ty5Ui6Op7As8Df9Gh0Jk1Lz2Xc3Vb4Nm";
    publishCall(pubs, { callId: "browser-secret-1", prompt: `use ${key} please`, answer: "ok" });
    pubs.engine.publish("control-plane-config", "policy.config.rejected", { file: "/etc/luthien/policies.yaml", trigger: "SIGHUP", error: "policies[0].use: unknown policy nope" });
    await pubs.flush();

    await page.goto(`${monitor.url}/#/`);
    // The config change: in its own section, and no row in the calls table.
    await page.locator("#config-list .config-row.rejected", { hasText: "unknown policy nope" }).waitFor({ timeout: 15_000 });
    await page.locator('tr[data-call-id="browser-secret-1"]').waitFor({ timeout: 15_000 });
    expect(await page.locator('tr[data-call-id="control-plane-config"]').count()).toBe(0);

    await page.goto(`${monitor.url}/#/calls/browser-secret-1`);
    const note = page.locator("#originals-note");
    await note.waitFor({ state: "visible", timeout: 10_000 });
    expect(await note.textContent()).toMatch(/stored with secrets redacted \(MONITOR_STORE_ORIGINALS=redacted\)/);
    const requestDiff = page.locator("#request-diff");
    await requestDiff.locator("td.del", { hasText: "[MONITOR-REDACTED:anthropic_key]" }).waitFor({ timeout: 10_000 });
    // No policy changed the request (the key went upstream as it came): the diff does not blame one.
    expect(await requestDiff.locator(".diff-note").textContent()).toMatch(/Unchanged by policy: the original differs only where the monitor hid secrets/);
    // The original's event in the timeline has it hidden too; the final shows what went upstream: the key.
    const received = await page.locator("#call-events .tl-row", { hasText: "request.received" }).textContent();
    expect(received).toContain("[MONITOR-REDACTED:anthropic_key]");
    expect(received).not.toContain(key.slice(14));
    expect(await requestDiff.locator("td.ins, td.code").allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining(key)]));
  }, 60_000);

  it("lists sessions (a session's calls in order, with their interventions) and key usage; their fields stay text", async () => {
    const session = `sess-${XSS}`;
    publishCall(pubs, { callId: "browser-session-1", keyId: "vk_0123456789ab", owner: `team ${XSS}`, sessionId: session, costUsd: 0.0125, answer: "a", finalAnswer: "A" });
    publishCall(pubs, { callId: "browser-session-2", keyId: "vk_0123456789ab", owner: `team ${XSS}`, sessionId: session, costUsd: 0.0125, status: 429, outcome: "error" });
    await pubs.flush();
    await page.goto(`${monitor.url}/#/sessions`);
    const row = page.locator("#sessions-body tr", { hasText: session });
    await row.waitFor({ timeout: 15_000 });
    expect(await row.textContent()).toContain(`team ${XSS}`);
    expect(await row.textContent()).toContain("$0.0250");
    await row.locator("a").click();
    await page.locator("#view-session").waitFor({ state: "visible" });
    const items = page.locator("#session-calls li");
    await items.nth(1).waitFor({ timeout: 10_000 });
    expect(await items.count()).toBe(2);
    await items.nth(0).locator(".badge.policy", { hasText: "all-caps.response_modified" }).waitFor();
    await page.goto(`${monitor.url}/#/keys`);
    const usage = page.locator("#usage-body tr", { hasText: "vk_0123456789ab" });
    await usage.waitFor({ timeout: 10_000 });
    expect(await usage.textContent()).toContain(`team ${XSS}`);
    await page.locator("#keys-empty", { hasText: "No virtual keys." }).waitFor({ timeout: 10_000 });
    expect(await page.locator("#view-keys img").count()).toBe(0);
    expect(await page.locator("#view-session img").count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it("shows a banner while NATS is away", async () => {
    await page.goto(`${monitor.url}/#/`);
    await nats.stop();
    try {
      await page.locator("#banner", { hasText: "NATS is unreachable" }).waitFor({ state: "visible", timeout: 20_000 });
    } finally {
      await nats.restart();
    }
    await page.locator("#banner").waitFor({ state: "hidden", timeout: 20_000 });
  }, 60_000);
});
