import { defaultSecretMarker, redactSecrets, redactSecretsInJson, SECRET_DETECTORS } from "../src/index";

const ANTHROPIC = "sk-ant-api03-" + "a".repeat(30);
const OPENAI = "sk-proj-" + "B1".repeat(12);
const AWS = "AKIA" + "ABCDEFGHIJKLMNOP";
const GITHUB = "ghp_" + "x".repeat(36);
const JWT = "eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl";
const LUTHIEN = "lk_0123456789ab" + "Zz9_-".repeat(8) + "abc";
const PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY-----";

describe("redactSecrets", () => {
  it("replaces every kind the detectors know, and counts them", () => {
    const text = `a ${ANTHROPIC} b ${OPENAI} c ${AWS} d ${GITHUB} e ${JWT} f ${PEM} g ${LUTHIEN} h`;
    const r = redactSecrets(text);
    expect(r.value).toBe(
      "a [REDACTED:anthropic_key] b [REDACTED:openai_key] c [REDACTED:aws_access_key] d [REDACTED:github_token] e [REDACTED:jwt] f [REDACTED:private_key] g [REDACTED:luthien_key] h",
    );
    expect(r.counts).toEqual({ anthropic_key: 1, openai_key: 1, aws_access_key: 1, github_token: 1, jwt: 1, private_key: 1, luthien_key: 1 });
    expect(SECRET_DETECTORS.map((d) => d.kind).sort()).toEqual(Object.keys(r.counts).sort());
  });

  it("lets the earlier detector win at the same position and leaves words that only contain a prefix", () => {
    // sk-ant-… matches both the anthropic and (without its look-ahead) the openai rule: anthropic_key comes first.
    expect(redactSecrets(`${ANTHROPIC}`).counts).toEqual({ anthropic_key: 1 });
    expect(redactSecrets("task-management-sk-is-fine and sk-short").value).toBe("task-management-sk-is-fine and sk-short");
    expect(redactSecrets("no secrets here").counts).toEqual({});
  });

  it("takes a marker of the caller's", () => {
    expect(redactSecrets(`k=${GITHUB};`, (kind) => `<${kind}>`).value).toBe("k=<github_token>;");
    expect(defaultSecretMarker("jwt")).toBe("[REDACTED:jwt]");
  });
});

describe("redactSecretsInJson", () => {
  it("redacts every string value at any depth, keeps keys and other values, and returns the same object when clean", () => {
    const body = { model: "m", n: 1, ok: true, none: null, messages: [{ role: "user", content: [{ type: "text", text: `use ${OPENAI}` }] }] };
    const r = redactSecretsInJson(body);
    expect(r.value).toEqual({ model: "m", n: 1, ok: true, none: null, messages: [{ role: "user", content: [{ type: "text", text: "use [REDACTED:openai_key]" }] }] });
    expect(r.counts).toEqual({ openai_key: 1 });
    expect(body.messages[0]!.content[0]!.text).toBe(`use ${OPENAI}`);
    const clean = { a: ["x", { b: "y" }] };
    expect(redactSecretsInJson(clean).value).toBe(clean);
  });
});
