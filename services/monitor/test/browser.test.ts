import { createApprovalBroker, type ApprovalBroker } from "@luthien/approvals";
import { createTestDatabase, startNats, startService, waitFor, type RunningNats, type RunningService, type TestDatabase } from "@luthien/testkit";
import type { Page } from "playwright-core";
import { ADMIN_KEY, AUTH, createPublishers, launchChromium, publishCall } from "./helpers";

const XSS = "<img src=x onerror=alert(1)>";

let nats: RunningNats;
let db: TestDatabase;
let monitor: RunningService;
let pubs: ReturnType<typeof createPublishers>;
let broker: ApprovalBroker;
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
const dialogs: string[] = [];

beforeAll(async () => {
  [nats, db] = await Promise.all([startNats({ jetstream: true }), createTestDatabase()]);
  monitor = await startService("monitor", { env: { NATS_URL: nats.url, DATABASE_URL: db.url, ADMIN_API_KEY: ADMIN_KEY } });
  pubs = createPublishers(nats.url);
  broker = createApprovalBroker({ url: nats.url, publish: (callId, type, data) => pubs.engine.publish(callId, type, data), logger: { warn: () => {} } });
  chromium = await launchChromium();
  page = chromium.page;
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
}, 60_000);

afterAll(async () => {
  await chromium?.close();
  await broker?.close();
  await pubs?.close();
  await monitor?.stop();
  await db?.drop();
  await nats?.dispose();
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

    // The config change: on its own page, and no row in the calls table.
    await page.goto(`${monitor.url}/#/config`);
    await page.locator("#config-list .config-row.rejected", { hasText: "unknown policy nope" }).waitFor({ timeout: 15_000 });
    await page.goto(`${monitor.url}/#/`);
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
    // The list follows the live feed: wait for the row with both calls' cost, not the first event's.
    const row = page.locator("#sessions-body tr", { hasText: session }).filter({ hasText: "$0.0250" });
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

  it("shows a held tool call in the Approvals inbox with its arguments as text, and approves it for the session with a note", async () => {
    const held = (callId: string, timeoutMs: number) =>
      broker.hold(
        { callId, keyId: "vk_browser", owner: `owner ${XSS}`, userId: "user-1", sessionId: `session-${callId}`, model: "claude-sonnet-4" },
        { policy: "dangerous-commands", tool: "bash", toolCallId: "toolu_1", input: { command: `echo '${XSS}' > /tmp/x`, nested: { why: XSS } }, reason: `writes ${XSS}`, timeoutMs },
        new AbortController().signal,
      );
    await page.goto(`${monitor.url}/#/approvals`);
    await page.locator("#view-approvals").waitFor({ state: "visible" });
    // The live stream is up (its dot is on the activity view, hidden here).
    await page.locator("#live-dot.on").waitFor({ state: "attached", timeout: 10_000 });
    const outcome = held("browser-approval-1", 60_000);
    const item = page.locator("#approvals-pending li.approval", { hasText: "browser-appr" });
    await item.waitFor({ timeout: 15_000 });
    expect(await item.locator("pre.arguments").textContent()).toContain(`"command": "echo '${XSS}' > /tmp/x"`);
    expect(await item.locator(".reason").textContent()).toBe(`writes ${XSS}`);
    expect(await item.textContent()).toContain(`owner ${XSS}`);
    expect(await item.locator(".countdown").textContent()).toMatch(/expires in (59|1m 00)s|expires in 5\ds/);
    await page.locator("#approvals-count", { hasText: "1" }).waitFor();

    await item.locator("input.note").fill(`ok ${XSS}`);
    await item.locator("button", { hasText: "Approve for this session" }).click();
    await expect(outcome).resolves.toMatchObject({ approved: true, by: "monitor", note: `ok ${XSS}`, via: "decision" });
    const decided = page.locator("#approvals-decided li.approval", { hasText: "browser-appr" });
    await decided.waitFor({ timeout: 15_000 });
    expect(await decided.locator(".outcome").textContent()).toMatch(new RegExp(`^approved · by monitor · for the session · after .* — ok ${XSS.replace(/[()]/g, "\\$&")}$`));
    await page.locator("#approvals-pending-empty").waitFor({ state: "visible" });

    // A decision after the hold expired: refused by the engine, and shown as such.
    const late = held("browser-approval-2", 500);
    await expect(late).resolves.toMatchObject({ reason: "expired" });
    const lateItem = page.locator("#approvals-decided li.approval", { hasText: "browser-appr" }).filter({ hasText: "expired" });
    await lateItem.waitFor({ timeout: 15_000 });
    const id = await lateItem.getAttribute("data-approval-id");
    expect((await fetch(`${monitor.url}/api/approvals/${id}/approve`, { method: "POST", headers: AUTH })).status).toBe(409);
    await lateItem.locator(".refusals .badge.warn", { hasText: "refused: late" }).waitFor({ timeout: 15_000 });

    expect(await page.locator("#view-approvals img").count()).toBe(0);
    expect(dialogs).toEqual([]);
  }, 60_000);

  it("shows shadow outcomes apart from real ones, labels a call, and shows a replay report as text", async () => {
    publishCall(pubs, { callId: "browser-shadow-1", answer: "a", finalAnswer: "A" });
    pubs.engine.publish("browser-shadow-1", "policy.dangerous-commands.would_block", { tool: "bash" });
    pubs.engine.publish("browser-shadow-1", "policy.secret-redaction.would_redact", { kinds: ["github_token"] });
    await pubs.flush();
    await page.goto(`${monitor.url}/#/`);
    const row = page.locator('tr[data-call-id="browser-shadow-1"]');
    await row.locator(".badge.shadow", { hasText: "would have been blocked by dangerous-commands" }).waitFor({ timeout: 15_000 });
    expect(await row.locator(".badge.policy").allTextContents()).toEqual(["all-caps.response_modified"]);

    await row.click();
    await page.locator("#call-id", { hasText: "browser-shadow-1" }).waitFor();
    await page.locator("#call-shadow .badge.shadow", { hasText: "secret-redaction would have redacted" }).waitFor({ timeout: 10_000 });
    expect(await page.locator("#call-actions .badge").allTextContents()).toEqual(["all-caps.response_modified"]);
    expect(await page.locator("#label-current").textContent()).toBe("none");
    await page.locator("#label-note").fill(`shouting ${XSS}`);
    await page.locator("#label-block").click();
    await page.locator("#label-current", { hasText: `should have been blocked: shouting ${XSS}` }).waitFor({ timeout: 10_000 });

    await page.goto(`${monitor.url}/#/`);
    await page.locator("#f-label").selectOption("should_block");
    await page.locator("#call-filters button[type=submit]").click();
    await page.locator('tr[data-call-id="browser-shadow-1"] .tag.label-should_block').waitFor({ timeout: 10_000 });
    await waitFor(async () => (await page.locator("#calls-body tr").count()) === 1, { timeoutMs: 10_000, what: "only the labelled call listed" });
    await page.locator("#f-reset").click();

    const report = {
      since: "2026-12-01T00:00:00.000Z",
      until: "2026-12-02T00:00:00.000Z",
      config: `policies:\n  - use: ${XSS}\n`,
      calls: 3,
      labelled: 1,
      policies: [
        {
          policy: `pol ${XSS}`,
          changed: 2,
          blocked: 1,
          redacted: 0,
          held: 0,
          rewritten: 1,
          denied: 0,
          tp: 1,
          fp: 1,
          fn: 0,
          tn: 0,
          precision: 0.5,
          recall: 1,
          examples: [{ callId: "browser-shadow-1", actions: [`pol ${XSS}.blocked`], before: `said ${XSS}`, after: `blocked ${XSS}` }],
        },
      ],
      results: [],
    };
    const res = await fetch(`${monitor.url}/api/replays`, { method: "POST", headers: { ...AUTH, "content-type": "application/json" }, body: JSON.stringify(report) });
    expect(res.status).toBe(201);
    await page.goto(`${monitor.url}/#/replays`);
    const reportRow = page.locator("#replays-body tr", { hasText: `pol ${XSS}` });
    await reportRow.waitFor({ timeout: 10_000 });
    await reportRow.locator("a").click();
    await page.locator("#view-replay").waitFor({ state: "visible" });
    const policyRow = page.locator("#replay-policies tr", { hasText: `pol ${XSS}` });
    await policyRow.waitFor({ timeout: 10_000 });
    expect(await policyRow.locator("td").allTextContents()).toEqual([`pol ${XSS}`, "2", "1", "0", "0", "1", "0", "50% (1/1)", "100% (1/0)"]);
    expect(await page.locator("#replay-examples pre").allTextContents()).toEqual([`said ${XSS}`, `blocked ${XSS}`]);
    expect(await page.locator("#replay-config").textContent()).toContain(`use: ${XSS}`);
    expect(await page.locator("img").count()).toBe(0);
    expect(dialogs).toEqual([]);
  }, 60_000);

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
