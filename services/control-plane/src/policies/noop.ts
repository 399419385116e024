import type { Policy } from "@luthien/policy-sdk";

/** Passes everything through and asks for nothing after the request (mode SKIP). */
export function createNoopPolicy(): Policy {
  return { name: "noop", mode: "SKIP" };
}
