/**
 * Virtual gateway keys: the record (id, owner, SHA-256 of the secret, scopes, limits, expiry, revocation), the secret
 * format, the operator's store (create, list, rotate, revoke, owner limits), the directory each gateway watches, and
 * the counters of the limits every replica shares. All sit on JetStream KV buckets, so a change reaches every gateway
 * replica at watch latency, with no new server to run.
 */
export { KeyRecordError, KeyStoreError } from "./errors";
export { KEY_SECRET_PREFIX, keyIdInSecret, ownerRecordKey } from "./record";
export type { KeyLimits, KeyRecord, KeyScopes, OwnerRecord, RouteName } from "./record";
export { openKeyStore } from "./store";
export type { IssuedKey, KeyStore, KeyStoreOptions, NewKey } from "./store";
export { watchKeyDirectory } from "./directory";
export type { DirectoryLogger, KeyDirectory, KeyDirectoryOptions, KeyLookup } from "./directory";
export { createRateLimiter } from "./limiter";
export type { Admission, RateLimiter, RateLimiterOptions } from "./limiter";
