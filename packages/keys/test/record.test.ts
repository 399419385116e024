import { digestOf, keyIdInSecret, keyRefusal, newKeyId, newKeySecret, ownerRecordKey, parseKeyRecord, parseOwnerRecord } from "../src/record";

const base = () => {
  const id = newKeyId();
  const secret = newKeySecret(id);
  return { id, secret, record: { id, name: "n", owner: "o", digest: digestOf(secret), createdAt: new Date().toISOString(), scopes: {}, limits: {} } };
};

describe("key records", () => {
  it("name the key id in the secret, and nothing else of it", () => {
    const { id, secret, record } = base();
    expect(secret).toMatch(/^lk_[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
    expect(keyIdInSecret(secret)).toBe(id);
    expect(keyIdInSecret(`${secret}x`)).toBeUndefined();
    expect(keyIdInSecret("sk-ant-api03-whatever")).toBeUndefined();
    expect(JSON.stringify(parseKeyRecord(record))).not.toContain(secret.slice(15));
  });

  it("refuse what this version cannot read: unknown fields, bad limits, unknown routes, a bad digest", () => {
    const { record } = base();
    const bad: unknown[] = [
      { ...record, extra: 1 },
      { ...record, scopes: { models: [] } },
      { ...record, scopes: { routes: ["embeddings"] } },
      { ...record, scopes: { passthrough: "yes" } },
      { ...record, scopes: { maxTokens: 0 } },
      { ...record, limits: { rpm: 1.5 } },
      { ...record, limits: { usdPerDay: -1 } },
      { ...record, limits: { burst: 3 } },
      { ...record, digest: "abc" },
      { ...record, id: "vk_nothex" },
      { ...record, expiresAt: "tomorrow" },
      null,
      [],
    ];
    for (const b of bad) expect(() => parseKeyRecord(b)).toThrow();
    expect(parseKeyRecord({ ...record, limits: { rpm: 60, concurrent: 2, tpm: 1000, usdPerDay: 1.5, usdPerMonth: 20 } }).limits).toEqual({
      rpm: 60,
      concurrent: 2,
      tpm: 1000,
      usdPerDay: 1.5,
      usdPerMonth: 20,
    });
  });

  it("are refused once revoked or past their expiry", () => {
    const { record } = base();
    const now = Date.now();
    expect(keyRefusal(parseKeyRecord(record), now)).toBeUndefined();
    expect(keyRefusal(parseKeyRecord({ ...record, expiresAt: new Date(now - 1).toISOString() }), now)).toBe("expired");
    expect(keyRefusal(parseKeyRecord({ ...record, expiresAt: new Date(now + 60_000).toISOString() }), now)).toBeUndefined();
    expect(keyRefusal(parseKeyRecord({ ...record, revokedAt: new Date(now).toISOString() }), now)).toBe("revoked");
  });

  it("keep owners apart by a KV-safe key of their name", () => {
    expect(ownerRecordKey("team a")).toMatch(/^owner-[0-9a-f]{24}$/);
    expect(ownerRecordKey("team a")).not.toBe(ownerRecordKey("team b"));
    expect(() => parseOwnerRecord({ owner: "x", limits: { rpm: 0 }, updatedAt: new Date().toISOString() })).toThrow();
  });
});
