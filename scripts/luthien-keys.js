/**
 * `pnpm luthien keys …`: virtual gateway keys in the JetStream KV bucket every gateway watches (packages/keys).
 * A key's secret is printed once, at `create` and `rotate`, and stored nowhere: only its SHA-256 is kept.
 */
"use strict";
const { parseArgs } = require("node:util");
const { loadBuilt } = require("./cli-support");

const USAGE = [
  "usage: pnpm luthien keys <create|list|show|revoke|rotate|owner|owners> [options]",
  "",
  "  create --name <name> --owner <owner> [scopes] [limits] [--expires <30d|12h|ISO time>] [--json]",
  "         scopes: --models 'gpt-4o*,claude-*'  --routes chat,responses,messages,count_tokens,batches,models",
  "                 --engine <pool>  --max-tokens <n>  --passthrough (may carry the caller's own provider credential)",
  "         limits: --rpm <requests/min>  --concurrent <calls in flight>  --tpm <input+output tokens/min>  --usd-day <USD>  --usd-month <USD>",
  "                 (shared by every gateway; spend at the gateways' price table, PRICES_FILE)",
  "  list [--json]            every key (revoked ones too), never a secret",
  "  show <id> [--json]",
  "  revoke <id>              refused by every gateway within the watch delay (bound: 2 s)",
  "  rotate <id> [--json]     a new secret for the same key; the old one is refused at once",
  "  owner <owner> [limits]   limits every key of <owner> shares, beside each key's own (none given: lifted)",
  "  owners [--json]          owners with limits",
  "",
  "  KEYS_NATS_URL or NATS_URL (default nats://127.0.0.1:4222)",
].join("\n");

const loadKeys = () => loadBuilt("packages/keys");

/** `30d`, `12h`, `90m` from now, or an ISO time. */
function expiryOf(text) {
  const m = /^(\d+)([dhm])$/.exec(text);
  if (m !== null) return new Date(Date.now() + Number(m[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000 }[m[2]]).toISOString();
  if (Number.isNaN(Date.parse(text))) throw new Error(`--expires: ${JSON.stringify(text)} is neither 30d/12h/90m nor an ISO time`);
  return new Date(text).toISOString();
}

function positive(flag, text) {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer`);
  return n;
}

function usd(flag, text) {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} must be a positive amount of USD`);
  return n;
}

const list = (text) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");

function limitsOf(values) {
  const limits = {};
  if (values.rpm !== undefined) limits.rpm = positive("--rpm", values.rpm);
  if (values.concurrent !== undefined) limits.concurrent = positive("--concurrent", values.concurrent);
  if (values.tpm !== undefined) limits.tpm = positive("--tpm", values.tpm);
  if (values["usd-day"] !== undefined) limits.usdPerDay = usd("--usd-day", values["usd-day"]);
  if (values["usd-month"] !== undefined) limits.usdPerMonth = usd("--usd-month", values["usd-month"]);
  return limits;
}

const describeLimits = (limits) =>
  Object.entries(limits)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");

function describe(r) {
  const state = r.revokedAt !== undefined ? `revoked ${r.revokedAt}` : r.expiresAt !== undefined && Date.parse(r.expiresAt) <= Date.now() ? `expired ${r.expiresAt}` : "active";
  const scopes = Object.entries(r.scopes).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(",") : v}`);
  const limits = Object.entries(r.limits).map(([k, v]) => `${k}=${v}`);
  return [
    `${r.id}  ${r.name}  owner=${r.owner}  ${state}`,
    ...(r.expiresAt !== undefined ? [`  expires ${r.expiresAt}`] : []),
    ...(scopes.length > 0 ? [`  scopes: ${scopes.join(" ")}`] : []),
    ...(limits.length > 0 ? [`  limits: ${limits.join(" ")}`] : []),
  ].join("\n");
}

function printIssued(issued, json, verb) {
  if (json) {
    console.log(JSON.stringify({ ...issued.record, secret: issued.secret }));
    return;
  }
  console.log(describe(issued.record));
  console.log(`\n${verb}. The key (shown this once, stored nowhere):\n\n  ${issued.secret}\n`);
  console.log("Send it as Authorization: Bearer, x-api-key, or x-luthien-api-key beside the caller's own provider credential.");
}

async function keys(args) {
  const [verb, ...rest] = args;
  if (verb === undefined || verb === "help" || verb === "--help") {
    console.log(USAGE);
    process.exit(verb === undefined ? 2 : 0);
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      owner: { type: "string" },
      models: { type: "string" },
      routes: { type: "string" },
      engine: { type: "string" },
      "max-tokens": { type: "string" },
      passthrough: { type: "boolean" },
      expires: { type: "string" },
      rpm: { type: "string" },
      tpm: { type: "string" },
      concurrent: { type: "string" },
      "usd-day": { type: "string" },
      "usd-month": { type: "string" },
      json: { type: "boolean" },
    },
  });
  const lib = loadKeys();
  const url = process.env.KEYS_NATS_URL || process.env.NATS_URL || "nats://127.0.0.1:4222";
  const store = await lib.openKeyStore({ url });
  try {
    switch (verb) {
      case "create": {
        if (values.name === undefined || values.owner === undefined) throw new Error("create needs --name and --owner");
        const scopes = {};
        if (values.models !== undefined) scopes.models = list(values.models);
        if (values.routes !== undefined) scopes.routes = list(values.routes);
        if (values.engine !== undefined) scopes.engine = values.engine;
        if (values["max-tokens"] !== undefined) scopes.maxTokens = positive("--max-tokens", values["max-tokens"]);
        if (values.passthrough === true) scopes.passthrough = true;
        const limits = limitsOf(values);
        const issued = await store.create({ name: values.name, owner: values.owner, scopes, limits, ...(values.expires !== undefined ? { expiresAt: expiryOf(values.expires) } : {}) });
        printIssued(issued, values.json === true, "Created");
        break;
      }
      case "list": {
        const all = await store.list();
        if (values.json === true) console.log(JSON.stringify(all));
        else console.log(all.length === 0 ? "no virtual keys" : all.map(describe).join("\n"));
        break;
      }
      case "show": {
        const r = await store.get(positionals[0] ?? "");
        console.log(values.json === true ? JSON.stringify(r) : describe(r));
        break;
      }
      case "revoke": {
        const r = await store.revoke(positionals[0] ?? "");
        console.log(values.json === true ? JSON.stringify(r) : `${describe(r)}\n\nRevoked: every gateway refuses it from now on.`);
        break;
      }
      case "rotate": {
        printIssued(await store.rotate(positionals[0] ?? ""), values.json === true, "Rotated: the old secret is refused from now on");
        break;
      }
      case "owner": {
        if (positionals[0] === undefined) throw new Error("owner needs the owner's name");
        const r = await store.setOwnerLimits(positionals[0], limitsOf(values));
        console.log(values.json === true ? JSON.stringify(r) : `owner ${r.owner}: ${Object.keys(r.limits).length > 0 ? describeLimits(r.limits) : "no shared limits"}`);
        break;
      }
      case "owners": {
        const all = await store.listOwners();
        if (values.json === true) console.log(JSON.stringify(all));
        else console.log(all.length === 0 ? "no owner limits" : all.map((o) => `${o.owner}: ${describeLimits(o.limits) || "none"}`).join("\n"));
        break;
      }
      default:
        throw new Error(`unknown keys command: ${verb}\n\n${USAGE}`);
    }
  } finally {
    await store.close();
  }
}

module.exports = { keys };
