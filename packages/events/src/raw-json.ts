import { randomBytes } from "node:crypto";

/** Marks the places `encodeEvent` splices raw JSON into; random per process, so no event's own text can forge one. */
const MARK = `\u0000luthien.raw.${randomBytes(8).toString("hex")}.`;
const QUOTED_MARK = JSON.stringify(MARK).slice(0, -1);

/** The raw texts of the encode in progress (encoding is synchronous, so one list serves). */
let splicing: string[] | undefined;

/**
 * JSON text that goes into an event as it is, unparsed and not re-encoded: a body the caller holds as bytes it has
 * already parsed (and so knows to be exactly one JSON value). Saves encoding a large request or response again for
 * every event that carries it. Anywhere but the publisher, it encodes as the value it stands for.
 */
export class RawJson {
  readonly #text: string;
  #value: unknown;

  /** @param text one complete JSON value (the caller has parsed it: nothing here checks it again) */
  constructor(text: string) {
    this.#text = text;
  }

  get text(): string {
    return this.#text;
  }

  /** The value, parsed on first use (for readers other than the publisher, e.g. an in-process sink). */
  value(): unknown {
    this.#value ??= JSON.parse(this.#text) as unknown;
    return this.#value;
  }

  toJSON(): unknown {
    if (splicing === undefined) return this.value();
    splicing.push(this.#text);
    return `${MARK}${splicing.length - 1}`;
  }
}

/**
 * `JSON.stringify(value)`, with every {@link RawJson} in it spliced in as its text.
 * @throws what JSON.stringify throws (a cycle, a BigInt)
 */
export function encodeEvent(value: object): string {
  const outer = splicing;
  splicing = [];
  let text: string;
  let raws: string[];
  try {
    text = JSON.stringify(value);
    raws = splicing;
  } finally {
    splicing = outer;
  }
  if (raws.length === 0) return text;
  let out = "";
  let from = 0;
  for (;;) {
    const at = text.indexOf(QUOTED_MARK, from);
    if (at === -1) break;
    const end = text.indexOf('"', at + QUOTED_MARK.length);
    out += text.slice(from, at) + (raws[Number(text.slice(at + QUOTED_MARK.length, end))] as string);
    from = end + 1;
  }
  return out + text.slice(from);
}
