import type { UpstreamCredential } from "./auth";

/** Placed where a credential was. */
export const REDACTED = "[REDACTED]";

/**
 * Credentials shorter than this are not looked for: they would match ordinary words in error messages, and no
 * provider issues keys that short.
 */
const MIN_SECRET_LENGTH = 8;

/**
 * Removes credentials from text that leaves the gateway: error bodies and error events sent to clients, log lines,
 * and provider errors reported to the engine. Providers sometimes echo the key they were sent ("Incorrect API key
 * provided: sk-..."), and the server's own key must never reach a client that only holds a gateway key.
 */
export interface SecretRedactor {
  /**
   * `text` with every known credential, and every one of `extra` (the caller's own, per call), replaced by
   * `[REDACTED]`.
   */
  redact(text: string, extra?: readonly string[]): string;
  /** A redactor for one call: the known credentials and the caller's own, when it carries one upstream. */
  forCaller(credential: UpstreamCredential | undefined): (text: string) => string;
}

/** @param secrets the server's provider keys and the gateway's client keys; undefined entries are skipped */
export function createSecretRedactor(secrets: Iterable<string | undefined>): SecretRedactor {
  const known = [...new Set([...secrets].filter((s): s is string => s !== undefined && s.length >= MIN_SECRET_LENGTH))];
  const replaceAll = (text: string, list: readonly string[]): string => {
    let out = text;
    for (const s of list) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  };
  // Longest first, so a key that contains another is replaced whole.
  known.sort((a, b) => b.length - a.length);
  const redact = (text: string, extra: readonly string[] = []): string => {
    const more = extra.filter((s) => s.length >= MIN_SECRET_LENGTH);
    return replaceAll(replaceAll(text, known), more);
  };
  return {
    redact,
    forCaller(credential) {
      const own = credential === undefined || credential.kind === "server" ? [] : [credential.value];
      return (text) => redact(text, own);
    },
  };
}
