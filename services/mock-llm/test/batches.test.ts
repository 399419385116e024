import type Anthropic from "@anthropic-ai/sdk";
import { DEFAULT_TEXT } from "../src/index";
import { useMock } from "./support";

const mock = useMock();
const params = (content: string) => ({ model: "claude-mock-sonnet", max_tokens: 20, messages: [{ role: "user" as const, content }] });

describe("mock-llm Message Batches", () => {
  it("answers every request with the script queue and has ended at once, with an absolute results_url on itself", async () => {
    await mock.queue({ text: "first answer" }, { error: { status: 429, message: "slow down" } });
    const client = mock.anthropic();
    const batch = await client.messages.batches.create({
      requests: [
        { custom_id: "a", params: params("one") },
        { custom_id: "b", params: params("two") },
        { custom_id: "c", params: params("three") },
      ],
    });
    expect(batch).toMatchObject({
      id: expect.stringMatching(/^msgbatch_mock_\d+$/),
      type: "message_batch",
      processing_status: "ended",
      request_counts: { processing: 0, succeeded: 2, errored: 1, canceled: 0, expired: 0 },
      results_url: `${mock.url()}/v1/messages/batches/${batch.id}/results`,
    });

    const results: Anthropic.Messages.MessageBatchIndividualResponse[] = [];
    for await (const r of await client.messages.batches.results(batch.id)) results.push(r);
    expect(results.map((r) => [r.custom_id, r.result.type])).toEqual([
      ["a", "succeeded"],
      ["b", "errored"],
      ["c", "succeeded"],
    ]);
    const first = results[0]?.result as Anthropic.Messages.MessageBatchSucceededResult;
    expect(first.message).toMatchObject({ type: "message", role: "assistant", model: "claude-mock-sonnet", content: [{ type: "text", text: "first answer" }] });
    expect(results[1]?.result).toMatchObject({ type: "errored", error: { type: "error", error: { type: "rate_limit_error", message: "slow down" } } });
    expect((results[2]?.result as Anthropic.Messages.MessageBatchSucceededResult).message.content).toEqual([{ type: "text", text: DEFAULT_TEXT }]);

    const recorded = await mock.recorded();
    expect(recorded.map((r) => `${r.method} ${r.path}`)).toEqual(["POST /v1/messages/batches", `GET /v1/messages/batches/${batch.id}`, `GET /v1/messages/batches/${batch.id}/results`]);
    expect(recorded[0]?.body).toEqual({
      requests: [
        { custom_id: "a", params: params("one") },
        { custom_id: "b", params: params("two") },
        { custom_id: "c", params: params("three") },
      ],
    });
  });

  it("applies the x-mock-script header to every request of the batch", async () => {
    const res = await mock.post(
      "/v1/messages/batches",
      {
        requests: [
          { custom_id: "x", params: params("1") },
          { custom_id: "y", params: params("2") },
        ],
      },
      { "x-mock-script": JSON.stringify({ text: "same" }) },
    );
    const batch = (await res.json()) as { id: string };
    const lines = (await (await fetch(`${mock.url()}/v1/messages/batches/${batch.id}/results`)).text()).trim().split("\n");
    expect(lines.map((l) => (JSON.parse(l) as { result: { message: { content: unknown } } }).result.message.content)).toEqual([
      [{ type: "text", text: "same" }],
      [{ type: "text", text: "same" }],
    ]);
    const bad = await mock.post("/v1/messages/batches", { requests: [{ custom_id: "x", params: params("1") }] }, { "x-mock-script": "{nope" });
    expect(bad.status).toBe(400);
  });

  it("retrieves, lists newest first, cancels and deletes, and answers 404 for unknown ids", async () => {
    const client = mock.anthropic();
    const one = await client.messages.batches.create({ requests: [{ custom_id: "a", params: params("x") }] });
    const two = await client.messages.batches.create({ requests: [{ custom_id: "b", params: params("y") }] });
    expect(await client.messages.batches.retrieve(one.id)).toEqual(one);
    const listed: string[] = [];
    for await (const b of client.messages.batches.list({ limit: 1 })) listed.push(b.id);
    expect(listed.slice(0, 2)).toEqual([two.id, one.id]);
    expect(await client.messages.batches.cancel(one.id)).toMatchObject({ id: one.id, processing_status: "ended" });
    expect(await client.messages.batches.delete(one.id)).toEqual({ id: one.id, type: "message_batch_deleted" });
    await expect(client.messages.batches.retrieve(one.id)).rejects.toMatchObject({ status: 404 });
    await expect(client.messages.batches.delete("msgbatch_nope")).rejects.toMatchObject({ status: 404 });
    const bad = await mock.post("/v1/messages/batches", { requests: [] });
    expect(bad.status).toBe(400);
  });
});
