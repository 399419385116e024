import { startNats, waitFor, type RunningNats } from "@luthien/testkit";
import {
  createActivityConsumer,
  InvalidConsumerNameError,
  isValidConsumerName,
  createEventPublisher,
  parseActivityEvent,
  publishActivityBytes,
  subscribeActivity,
  type ActivityDelivery,
} from "../src/index";

let nats: RunningNats;

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
});

afterAll(async () => {
  await nats.dispose();
});

describe("ActivityConsumer", () => {
  it("refuses a durable name JetStream would not take, before connecting, and says which stream and durable it reads", () => {
    for (const bad of ["", "a.b", "a b", "a*", "a>", "a/b", "a\\b", "x".repeat(129), "tab\tname"]) {
      expect(isValidConsumerName(bad)).toBe(false);
      expect(() => createActivityConsumer({ url: nats.url, durable: bad })).toThrow(InvalidConsumerNameError);
    }
    for (const good of ["luthien-monitor", "luthien_monitor_2", "Checkout-B", "x".repeat(128)]) expect(isValidConsumerName(good)).toBe(true);
    const c = createActivityConsumer({ url: nats.url, durable: "named-consumer", filterSubject: "luthien.activity.policy.>" });
    expect({ stream: c.stream, durable: c.durable, filterSubject: c.filterSubject }).toEqual({
      stream: "LUTHIEN_ACTIVITY",
      durable: "named-consumer",
      filterSubject: "luthien.activity.policy.>",
    });
    return c.close();
  });

  it("retries a batch the handler refused, acks it once stored, and resumes after a NATS restart", async () => {
    const publisher = createEventPublisher({ url: nats.url, source: "gateway" });
    const consumer = createActivityConsumer({ url: nats.url, durable: "consumer-test", batch: 50 });
    const stored = new Map<string, number>();
    let failures = 2;
    const running = consumer.run(async (batch) => {
      if (failures > 0) {
        failures--;
        throw new Error("database away");
      }
      for (const m of batch) {
        const ev = parseActivityEvent(m.data);
        stored.set(ev.id, (stored.get(ev.id) ?? 0) + 1);
      }
    });
    try {
      for (let i = 0; i < 100; i++) publisher.publish(`c-${i % 10}`, "chunk.sent", { i });
      await publisher.flush(10_000);
      await waitFor(() => stored.size === 100, { timeoutMs: 15_000, what: "100 stored" });
      expect(consumer.counters().handlerFailures).toBe(2);
      await nats.restart();
      for (let i = 0; i < 50; i++) publisher.publish("after-restart", "chunk.sent", { i });
      await publisher.flush(15_000);
      await waitFor(() => stored.size === 150, { timeoutMs: 20_000, what: "150 stored" });
      await waitFor(() => consumer.counters().acked >= 150, { timeoutMs: 5000, what: "acks" });
    } finally {
      await consumer.close();
      await running;
      await publisher.close();
    }
    // A fresh instance of the same durable finds nothing left to deliver: everything was acked.
    const again = createActivityConsumer({ url: nats.url, durable: "consumer-test" });
    let redelivered = 0;
    const r2 = again.run(async (batch) => {
      redelivered += batch.length;
    });
    await new Promise((r) => setTimeout(r, 1000));
    await again.close();
    await r2;
    expect(redelivered).toBe(0);
  }, 40_000);
});

describe("subscribeActivity", () => {
  it("sees events as they are published, parsed, and reports invalid ones", async () => {
    const seen: ActivityDelivery[] = [];
    const sub = subscribeActivity({ url: nats.url, subject: "luthien.activity.policy.>" }, (d) => seen.push(d));
    const publisher = createEventPublisher({ url: nats.url, source: "control-plane" });
    try {
      await waitFor(() => sub.connected(), { what: "subscription connected" });
      await new Promise((r) => setTimeout(r, 100));
      publisher.publish("s-1", "call.started", {});
      publisher.publish("s-1", "policy.secrets.redacted", { count: 2 });
      await publisher.flush(5000);
      await publishActivityBytes({ url: nats.url, subject: "luthien.activity.policy.junk", payload: "{oops" });
      await waitFor(() => seen.length >= 2, { what: "two deliveries" });
      expect(seen[0]!.event).toMatchObject({ callId: "s-1", type: "policy.secrets.redacted", source: "control-plane", seq: 2, data: { count: 2 } });
      expect(seen[1]!.event).toBeUndefined();
      expect(seen[1]!.error?.field).toBe("$");
      expect(seen[1]!.subject).toBe("luthien.activity.policy.junk");
      expect(seen).toHaveLength(2);
    } finally {
      await publisher.close();
      await sub.close();
    }
  });
});
