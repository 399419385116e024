import { createHash, randomBytes } from "node:crypto";
import { KeyRecordError } from "./errors";

/** What a key may do. An absent field allows everything of its kind. */
export interface KeyScopes {
  /** Model globs (`gpt-4o*`, `claude-*`) the key may ask for. */
  models?: string[];
  /** Route names (`chat`, `responses`, `messages`, `count_tokens`, `batches`, `models`) the key may call. */
  routes?: string[];
  /** The engine pool its calls go to, over the routing rules. */
  engine?: string;
  /** The largest `max_tokens` (or `max_completion_tokens`, `max_output_tokens`) a request may ask for. */
  maxTokens?: number;
  /** May carry the caller's own provider credential beside the key (in `x-luthien-api-key`). @default false */
  passthrough?: boolean;
}

/** Rate limits and budgets of a key; an absent field is no limit. */
export interface KeyLimits {
  /** Requests per rolling minute, across every gateway replica. */
  rpm?: number;
  /** Calls in flight at once, across every gateway replica. */
  concurrent?: number;
  /** Input + output tokens per rolling minute: checked before a call, counted when it ends. */
  tpm?: number;
  /** USD per UTC day, at the gateway's price table. */
  usdPerDay?: number;
  /** USD per UTC calendar month. */
  usdPerMonth?: number;
}

/** A virtual key as stored: never the secret itself, only its SHA-256. */
export interface KeyRecord {
  /** `vk_` and 12 hex digits: safe for logs, events, policies and routing rules. */
  id: string;
  name: string;
  owner: string;
  /** Hex SHA-256 of the secret. */
  digest: string;
  createdAt: string;
  /** ISO time after which the key is refused. */
  expiresAt?: string;
  /** ISO time it was revoked; a revoked key is kept so that listings and events can still name it. */
  revokedAt?: string;
  /** ISO time of the last rotation (a new secret, the old one refused at once). */
  rotatedAt?: string;
  scopes: KeyScopes;
  limits: KeyLimits;
}

/** The prefix of every virtual key's secret, so that secret scanners (ours included) recognise one. */
export const KEY_SECRET_PREFIX = "lk_";

const ID_PATTERN = /^vk_[0-9a-f]{12}$/;
const ROUTE_NAMES = ["chat", "responses", "messages", "count_tokens", "batches", "models"] as const;
export type RouteName = (typeof ROUTE_NAMES)[number];
/** Every route name a scope may list. */
export const KEY_ROUTE_NAMES: readonly RouteName[] = ROUTE_NAMES;

export function newKeyId(): string {
  return `vk_${randomBytes(6).toString("hex")}`;
}

/**
 * A fresh secret for key `id`: the prefix, the id's 12 hex digits, then 32 bytes of randomness in base64url (43
 * characters). The id in it lets a gateway read a key it has not heard of yet straight from the store, so a key
 * works the moment `create` returns; it says nothing a key id does not already say.
 */
export function newKeySecret(id: string): string {
  return KEY_SECRET_PREFIX + id.slice(3) + randomBytes(32).toString("base64url");
}

/** The key id a secret names, when it has a virtual key's shape. */
export function keyIdInSecret(secret: string): string | undefined {
  return /^lk_[0-9a-f]{12}[A-Za-z0-9_-]{43}$/.test(secret) ? `vk_${secret.slice(3, 15)}` : undefined;
}

/** Hex SHA-256: what the store keeps and the gateways look keys up by. */
export function digestOf(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Limits shared by every key of one owner, stored beside the keys. */
export interface OwnerRecord {
  owner: string;
  limits: KeyLimits;
  updatedAt: string;
}

/** The KV key of an owner's record, and the id of its shared counters: names may hold any character, KV keys may not. */
export function ownerRecordKey(owner: string): string {
  return `owner-${createHash("sha256").update(owner).digest("hex").slice(0, 24)}`;
}

export function parseOwnerRecord(value: unknown): OwnerRecord {
  const o = object(value, "owner record");
  only(o, ["owner", "limits", "updatedAt"], "owner record");
  return { owner: str(o["owner"], "owner"), limits: parseLimits(o["limits"] ?? {}), updatedAt: time(o["updatedAt"], "updatedAt") };
}

/** Why a key is not usable at `now`, or undefined when it is. */
export function keyRefusal(record: KeyRecord, now: number = Date.now()): "revoked" | "expired" | undefined {
  if (record.revokedAt !== undefined) return "revoked";
  if (record.expiresAt !== undefined && Date.parse(record.expiresAt) <= now) return "expired";
  return undefined;
}

/** Parses a stored record, refusing anything it does not know (a record this version cannot read is not used). */
export function parseKeyRecord(value: unknown): KeyRecord {
  const o = object(value, "key record");
  only(o, ["id", "name", "owner", "digest", "createdAt", "expiresAt", "revokedAt", "rotatedAt", "scopes", "limits"], "key record");
  const id = str(o["id"], "id");
  if (!ID_PATTERN.test(id)) throw new KeyRecordError(`key id ${JSON.stringify(id)} is not vk_ and 12 hex digits`);
  const digest = str(o["digest"], "digest");
  if (!/^[0-9a-f]{64}$/.test(digest)) throw new KeyRecordError("digest must be 64 hex digits");
  const record: KeyRecord = {
    id,
    name: str(o["name"], "name"),
    owner: str(o["owner"], "owner"),
    digest,
    createdAt: time(o["createdAt"], "createdAt"),
    scopes: parseScopes(o["scopes"] ?? {}),
    limits: parseLimits(o["limits"] ?? {}),
  };
  for (const field of ["expiresAt", "revokedAt", "rotatedAt"] as const) {
    if (o[field] !== undefined) record[field] = time(o[field], field);
  }
  return record;
}

export function parseScopes(value: unknown): KeyScopes {
  const o = object(value, "scopes");
  only(o, ["models", "routes", "engine", "maxTokens", "passthrough"], "scopes");
  const scopes: KeyScopes = {};
  if (o["models"] !== undefined) scopes.models = strList(o["models"], "scopes.models");
  if (o["routes"] !== undefined) {
    const routes = strList(o["routes"], "scopes.routes");
    for (const r of routes) {
      if (!(ROUTE_NAMES as readonly string[]).includes(r)) throw new KeyRecordError(`scopes.routes: unknown route ${JSON.stringify(r)} (known: ${ROUTE_NAMES.join(", ")})`);
    }
    scopes.routes = routes;
  }
  if (o["engine"] !== undefined) scopes.engine = str(o["engine"], "scopes.engine");
  if (o["maxTokens"] !== undefined) scopes.maxTokens = positiveInt(o["maxTokens"], "scopes.maxTokens");
  if (o["passthrough"] !== undefined) {
    if (typeof o["passthrough"] !== "boolean") throw new KeyRecordError("scopes.passthrough must be true or false");
    scopes.passthrough = o["passthrough"];
  }
  return scopes;
}

export function parseLimits(value: unknown): KeyLimits {
  const o = object(value, "limits");
  only(o, ["rpm", "concurrent", "tpm", "usdPerDay", "usdPerMonth"], "limits");
  const limits: KeyLimits = {};
  if (o["rpm"] !== undefined) limits.rpm = positiveInt(o["rpm"], "limits.rpm");
  if (o["concurrent"] !== undefined) limits.concurrent = positiveInt(o["concurrent"], "limits.concurrent");
  if (o["tpm"] !== undefined) limits.tpm = positiveInt(o["tpm"], "limits.tpm");
  for (const field of ["usdPerDay", "usdPerMonth"] as const) {
    const v = o[field];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw new KeyRecordError(`limits.${field} must be a positive number of USD`);
    limits[field] = v;
  }
  return limits;
}

function object(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new KeyRecordError(`${what} must be an object`);
  return v as Record<string, unknown>;
}
function only(o: Record<string, unknown>, known: readonly string[], what: string): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) throw new KeyRecordError(`${what}: unknown field ${JSON.stringify(k)}`);
}
function str(v: unknown, field: string): string {
  if (typeof v !== "string" || v === "" || v.length > 200) throw new KeyRecordError(`${field} must be a non-empty string of at most 200 characters`);
  return v;
}
function strList(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || v.length === 0) throw new KeyRecordError(`${field} must be a non-empty list`);
  return v.map((x, i) => str(x, `${field}[${i}]`));
}
function time(v: unknown, field: string): string {
  const s = str(v, field);
  if (Number.isNaN(Date.parse(s))) throw new KeyRecordError(`${field} must be an ISO time`);
  return s;
}
function positiveInt(v: unknown, field: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) throw new KeyRecordError(`${field} must be a positive integer`);
  return v;
}
