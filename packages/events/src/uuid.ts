import { randomFillSync } from "node:crypto";

// Random bytes come from a pooled buffer: one randomFillSync per 256 ids instead of one per id keeps id generation
// off the profile of the gateway's hot path.
const POOL_IDS = 256;
const pool = Buffer.alloc(POOL_IDS * 8);
let poolOffset = pool.length;

let lastMs = -1;
let counter = 0;

function randomBytes8(): Buffer {
  if (poolOffset >= pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + 8);
  poolOffset += 8;
  return out;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then a 12-bit counter (`rand_a`, method 1 of section 6.2) seeded
 * at random each millisecond, then 62 random bits. Ids from one process sort in creation order, even within a
 * millisecond; when the counter overflows the timestamp moves one millisecond ahead rather than going backwards.
 */
export function uuidv7(now: number = Date.now()): string {
  const rnd = randomBytes8();
  if (now > lastMs) {
    lastMs = now;
    // Seeded in the lower half so a burst within one millisecond has room to count up.
    counter = ((rnd[6]! << 8) | rnd[7]!) & 0x7ff;
  } else {
    counter++;
    if (counter > 0xfff) {
      lastMs++;
      counter = 0;
    }
  }
  const ms = lastMs;
  const b = new Uint8Array(16);
  // 48-bit big-endian timestamp; split because bit operators work on 32 bits.
  const hi = Math.floor(ms / 0x100000000);
  const lo = ms >>> 0;
  b[0] = (hi >>> 8) & 0xff;
  b[1] = hi & 0xff;
  b[2] = (lo >>> 24) & 0xff;
  b[3] = (lo >>> 16) & 0xff;
  b[4] = (lo >>> 8) & 0xff;
  b[5] = lo & 0xff;
  b[6] = 0x70 | ((counter >>> 8) & 0x0f);
  b[7] = counter & 0xff;
  b[8] = 0x80 | (rnd[0]! & 0x3f);
  for (let i = 1; i < 6; i++) b[8 + i] = rnd[i]!;
  // Two more random bytes to finish rand_b (bytes 14–15).
  const more = randomBytes8();
  b[14] = more[0]!;
  b[15] = more[1]!;
  let s = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += "-";
    s += HEX[b[i]!]!;
  }
  return s;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for any RFC 9562 UUID in its canonical 8-4-4-4-12 hex form (either case). */
export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}
