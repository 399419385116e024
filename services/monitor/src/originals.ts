import { ActivityEventTypes, redactSecretsInJson, type ActivityEvent, type JsonObject } from "@luthien/events";

/**
 * How the monitor stores originals — what reached the gateway before any policy ran (`MONITOR_STORE_ORIGINALS`):
 * - `redacted` (default): with every secret the `secret-redaction` detectors find replaced by
 *   `[MONITOR-REDACTED:<kind>]` (the policy's own marker is `[REDACTED:<kind>]`, so the two stay apart);
 * - `full`: as received, secrets included;
 * - `none`: the event is kept (its seq, time, type) but its body is not.
 * Finals (`request.sent`, `response.sent`) are stored as they went on the wire: a secret a policy did not remove
 * went out, and the monitor shows that.
 */
export type StoreOriginals = "redacted" | "full" | "none";

export const STORE_ORIGINALS_MODES: readonly StoreOriginals[] = ["redacted", "full", "none"];

/** What replaces a secret the monitor removed from an original. */
export const monitorSecretMarker = (kind: string): string => `[MONITOR-REDACTED:${kind}]`;

/** The event types that carry an original, and the `data` field that holds it. */
const ORIGINAL_CARRIERS: ReadonlyMap<string, string> = new Map([
  [ActivityEventTypes.RequestReceived, "body"],
  [ActivityEventTypes.ResponseReceived, "body"],
  // Per stream event (ACTIVITY_CHUNKS=on): a secret split across two chunks is not recognised in either.
  [ActivityEventTypes.ChunkReceived, "data"],
]);

/**
 * Applies the storage mode to one event. Events that carry no original come back unchanged with `storedAs`
 * undefined; originals come back with their carrier redacted (`redacted`), as they are (`full`) or set to null
 * (`none`), and `storedAs` = the mode.
 */
export function storeOriginal(event: ActivityEvent, mode: StoreOriginals): { event: ActivityEvent; storedAs: StoreOriginals | undefined } {
  const carrier = ORIGINAL_CARRIERS.get(event.type);
  if (carrier === undefined) return { event, storedAs: undefined };
  if (mode === "full" || !(carrier in event.data)) return { event, storedAs: mode };
  if (mode === "none") return { event: { ...event, data: { ...event.data, [carrier]: null } }, storedAs: mode };
  const r = redactSecretsInJson(event.data[carrier], monitorSecretMarker);
  if (r.value === event.data[carrier]) return { event, storedAs: mode };
  return { event: { ...event, data: { ...event.data, [carrier]: r.value } as JsonObject }, storedAs: mode };
}
