/**
 * Virtual gateway keys: the record (id, owner, SHA-256 of the secret, scopes, limits, expiry, revocation), the secret
 * format, the operator's store (create, list, rotate, revoke) and the directory each gateway watches. Both sit on one
 * JetStream KV bucket, so a change reaches every gateway replica at watch latency, with no new server to run.
 */
export { KeyRecordError, KeyStoreError } from "./errors";
export {
  KEY_SECRET_PREFIX,
  KEY_ROUTE_NAMES,
  digestOf,
  keyIdInSecret,
  keyRefusal,
  ownerRecordKey,
  parseOwnerRecord,
  newKeyId,
  newKeySecret,
  parseKeyRecord,
  parseLimits,
  parseScopes,
} from "./record";
export type { KeyLimits, KeyRecord, KeyScopes, OwnerRecord, RouteName } from "./record";
export { openKeyStore } from "./store";
export type { IssuedKey, KeyStore, KeyStoreOptions, NewKey } from "./store";
export { watchKeyDirectory } from "./directory";
export type { DirectoryLogger, KeyDirectory, KeyDirectoryOptions, KeyLookup } from "./directory";
export { createRateLimiter } from "./limiter";
export type { Admission, RateLimiter, RateLimiterOptions } from "./limiter";
export { KEYS_BUCKET, LIMITS_BUCKET, SPEND_BUCKET } from "./internal/nats";
