import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startNats, waitFor, type RunningNats } from "@luthien/testkit";
import { ACTIVITY_STREAM, createEventPublisher, parseActivityEvent, type ActivityEvent, type EventPublisher } from "../src/index";

/**
 * The send path's own properties: every PubAck is credited to the event it answers, an attempt whose ack is lost is
 * retried and the stream keeps one copy, the ack-timeout sweep, and the outbox bounds with events in flight. Each
 * test reads the stream itself (message count, `Nats-Msg-Id` of every message) rather than trusting the counters.
 */

let nats: RunningNats;
let admin: NatsConnection;
const open: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
});

afterEach(async () => {
  nats.signal("SIGCONT");
  await Promise.all(open.splice(0).map((o) => o.close()));
  await admin?.close();
});

afterAll(async () => {
  await nats.dispose();
});

function track<T extends { close(): Promise<void> }>(o: T): T {
  open.push(o);
  return o;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Stored {
  msgId: string;
  event: ActivityEvent;
}

/** Every message in the activity stream, read with an ordered consumer, with the `Nats-Msg-Id` it was stored under. */
async function storedEvents(url: string): Promise<Stored[]> {
  admin = await connect({ servers: url });
  const total = (await (await jetstreamManager(admin)).streams.info(ACTIVITY_STREAM)).state.messages;
  const consumer = await jetstream(admin).consumers.get(ACTIVITY_STREAM);
  const out: Stored[] = [];
  while (out.length < total) {
    const batch = await consumer.fetch({ max_messages: total - out.length, expires: 2000 });
    for await (const m of batch) out.push({ msgId: m.headers?.get("Nats-Msg-Id") ?? "", event: parseActivityEvent(m.data) });
  }
  await admin.close();
  return out;
}

/** The stored copies of the events of calls whose id starts with `prefix`: each must be there once, under its own id. */
function storedOnce(stored: Stored[], prefix: string): ActivityEvent[] {
  const mine = stored.filter((s) => s.event.callId.startsWith(prefix));
  for (const s of mine) expect(s.msgId).toBe(s.event.id);
  expect(new Set(mine.map((s) => s.event.id)).size).toBe(mine.length);
  return mine.map((s) => s.event);
}

async function warm(p: EventPublisher): Promise<void> {
  p.publish("warm", "call.started", {});
  await p.flush(10_000);
}

describe("EventPublisher acks", () => {
  it("credits every ack to its own event while hundreds are in flight, and retries exactly the refused ones", async () => {
    // A server of its own, whose stream captures only call.* subjects: every chunk.sent is answered "no responders".
    const partial = await startNats({ jetstream: true });
    try {
      admin = await connect({ servers: partial.url });
      const jsm = await jetstreamManager(admin);
      await jsm.streams.add({ name: ACTIVITY_STREAM, subjects: ["luthien.activity.call.>"] });
      await admin.close();
      const p = track(createEventPublisher({ url: partial.url, source: "gateway", maxInFlight: 1000, ackTimeoutMs: 20_000 }));
      for (let i = 0; i < 400; i++) p.publish(`mix-${i % 40}`, i % 2 === 0 ? "call.started" : "chunk.sent", { i });
      await waitFor(() => p.counters().published === 200, { timeoutMs: 10_000, what: "the captured half acked" });
      await waitFor(() => p.counters().retried >= 400, { timeoutMs: 10_000, what: "the refused half retried twice" });
      expect(p.counters()).toMatchObject({ published: 200, duplicates: 0, outbox: 200, dropped: 0 });
      const first = storedOnce(await storedEvents(partial.url), "mix-");
      expect(first).toHaveLength(200);
      expect(new Set(first.map((e) => e.type))).toEqual(new Set(["call.started"]));
      expect(first.map((e) => (e.data as { i: number }).i).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, k) => 2 * k));

      admin = await connect({ servers: partial.url });
      await (await jetstreamManager(admin)).streams.update(ACTIVITY_STREAM, { subjects: ["luthien.activity.>"] });
      await admin.close();
      await p.flush(15_000);
      expect(p.counters()).toMatchObject({ published: 400, duplicates: 0, outbox: 0, outboxBytes: 0 });
      const all = storedOnce(await storedEvents(partial.url), "mix-");
      expect(all.map((e) => (e.data as { i: number }).i).sort((a, b) => a - b)).toEqual(Array.from({ length: 400 }, (_, k) => k));
      for (let c = 0; c < 40; c++) {
        const seqs = all.filter((e) => e.callId === `mix-${c}`).map((e) => e.seq);
        expect(seqs.sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, k) => k + 1));
      }
    } finally {
      await Promise.all(open.splice(0).map((o) => o.close()));
      await partial.dispose();
    }
  }, 60_000);

  it("retries a refused event before anything newer, so one call's events are stored in order", async () => {
    const partial = await startNats({ jetstream: true });
    try {
      admin = await connect({ servers: partial.url });
      await (await jetstreamManager(admin)).streams.add({ name: ACTIVITY_STREAM, subjects: ["luthien.activity.call.>"] });
      await admin.close();
      const p = track(createEventPublisher({ url: partial.url, source: "gateway", maxInFlight: 1 }));
      for (let i = 0; i < 5; i++) p.publish("order", "chunk.sent", { i });
      p.publish("order", "call.ended", { status: 200 });
      await waitFor(() => p.counters().retried >= 3, { timeoutMs: 10_000, what: "the first event retried" });
      // call.ended would be accepted, but it waits behind the refused chunk.sent at the head.
      expect(p.counters()).toMatchObject({ published: 0, outbox: 6 });
      admin = await connect({ servers: partial.url });
      await (await jetstreamManager(admin)).streams.update(ACTIVITY_STREAM, { subjects: ["luthien.activity.>"] });
      await admin.close();
      await p.flush(15_000);
      const stored = storedOnce(await storedEvents(partial.url), "order");
      expect(stored.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    } finally {
      await Promise.all(open.splice(0).map((o) => o.close()));
      await partial.dispose();
    }
  }, 60_000);

  it("times out attempts whose ack never comes in one sweep at their deadline, ignores their late acks, and keeps one copy", async () => {
    const p = track(createEventPublisher({ url: nats.url, source: "gateway", ackTimeoutMs: 1000 }));
    await warm(p);
    nats.signal("SIGSTOP");
    const sentAt = Date.now();
    for (let i = 0; i < 20; i++) p.publish("sweep", "chunk.sent", { i });
    await sleep(500);
    expect(p.counters()).toMatchObject({ retried: 0, outbox: 20 });
    await waitFor(() => p.counters().retried >= 20, { timeoutMs: 5000, what: "the attempts timed out" });
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(1000);
    nats.signal("SIGCONT");
    await p.flush(15_000);
    // The frozen server stored each first attempt once it resumed; their acks came for attempts given up on, so the
    // only acks counted are the retries' — every one of them "duplicate".
    expect(p.counters()).toMatchObject({ published: 21, duplicates: 20, outbox: 0, outboxBytes: 0 });
    expect(storedOnce(await storedEvents(nats.url), "sweep")).toHaveLength(20);
  }, 30_000);

  it("gives up on attempts in flight when the connection drops and retries them once NATS is back, long before their timeout", async () => {
    const p = track(createEventPublisher({ url: nats.url, source: "gateway", ackTimeoutMs: 120_000 }));
    await warm(p);
    // Frozen, the server leaves the publishes unread in its socket; killed, it never stores them.
    nats.signal("SIGSTOP");
    for (let i = 0; i < 50; i++) p.publish(`drop-${i % 5}`, "chunk.sent", { i });
    await sleep(300);
    nats.signal("SIGKILL");
    await waitFor(() => !p.connected(), { timeoutMs: 10_000, what: "the disconnect noticed" });
    await nats.restart();
    const back = Date.now();
    await p.flush(20_000);
    expect(Date.now() - back).toBeLessThan(20_000);
    expect(p.counters()).toMatchObject({ published: 51, outbox: 0, outboxBytes: 0, disconnects: 1 });
    expect(p.counters().retried).toBeGreaterThanOrEqual(50);
    expect(storedOnce(await storedEvents(nats.url), "drop-")).toHaveLength(50);
  }, 40_000);

  it("counts events in flight against the outbox limit", async () => {
    const p = track(createEventPublisher({ url: nats.url, source: "gateway", outboxLimit: 10, ackTimeoutMs: 30_000 }));
    await warm(p);
    nats.signal("SIGSTOP");
    for (let i = 0; i < 10; i++) p.publish("bound", "chunk.sent", { i });
    await sleep(200);
    for (let i = 10; i < 15; i++) p.publish("bound", "chunk.sent", { i });
    expect(p.counters()).toMatchObject({ outbox: 10, dropped: 5 });
    nats.signal("SIGCONT");
    await p.flush(10_000);
    expect(p.counters()).toMatchObject({ published: 11, outbox: 0, outboxBytes: 0, dropped: 5 });
    const kept = storedOnce(await storedEvents(nats.url), "bound");
    expect(kept.map((e) => (e.data as { i: number }).i).sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, k) => k));
  }, 30_000);

  it("holds no more bytes than outboxMaxBytes while NATS is away, and delivers what it kept", async () => {
    await nats.stop();
    const pad = "x".repeat(1000);
    const p = track(createEventPublisher({ url: nats.url, source: "gateway", outboxMaxBytes: 4000 }));
    for (let i = 0; i < 5; i++) p.publish("bytes", "chunk.sent", { i, pad });
    const c = p.counters();
    expect(c).toMatchObject({ outbox: 3, dropped: 2 });
    expect(c.outboxBytes).toBeGreaterThan(3000);
    expect(c.outboxBytes).toBeLessThanOrEqual(4000);
    await nats.restart();
    await p.flush(15_000);
    expect(p.counters()).toMatchObject({ published: 3, outbox: 0, outboxBytes: 0 });
    expect(storedOnce(await storedEvents(nats.url), "bytes")).toHaveLength(3);
  }, 30_000);

  it("replaces the data of an event over the server's max_payload by a stub, and stores that", async () => {
    const p = track(createEventPublisher({ url: nats.url, source: "gateway" }));
    p.publish("huge", "response.sent", { body: "y".repeat(1_500_000) });
    p.publish("huge", "call.ended", { status: 200 });
    await p.flush(15_000);
    expect(p.counters()).toMatchObject({ published: 2, truncated: 1, outbox: 0, outboxBytes: 0 });
    const [big, ended] = storedOnce(await storedEvents(nats.url), "huge").sort((a, b) => a.seq - b.seq);
    expect(big).toMatchObject({ type: "response.sent", seq: 1, data: { truncated: true, maxPayload: 1024 * 1024 } });
    expect((big!.data as { originalBytes: number }).originalBytes).toBeGreaterThan(1_500_000);
    expect(ended).toMatchObject({ type: "call.ended", seq: 2, data: { status: 200 } });
  }, 30_000);
});
