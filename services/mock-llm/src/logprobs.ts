/** One alternative token, as Chat Completions and Responses `top_logprobs[]` carry it. */
export interface TopLogprob {
  token: string;
  logprob: number;
  /** The token's UTF-8 bytes. */
  bytes: number[];
}

/** One token's log probability: Chat Completions `logprobs.content[]`, Responses `output_text.logprobs[]`. */
export interface TokenLogprob extends TopLogprob {
  top_logprobs: TopLogprob[];
}

/** A Responses stream event's logprob (`output_text.delta`/`.done`), which carries no bytes. */
export interface EventLogprob {
  token: string;
  logprob: number;
  top_logprobs: { token: string; logprob: number }[];
}

/** OpenAI's ceiling for `top_logprobs`. */
const MAX_TOP_LOGPROBS = 20;

/** The made-up runners-up of `top_logprobs`, least likely last. */
const ALTERNATIVES = [" the", " a", ",", ".", " and", " to", " of", " in", " is", " it", " that", " for", " on", " with", " as", " this", " be", " at", " or", " by", " an"];

function topLogprob(token: string, logprob: number): TopLogprob {
  return { token, logprob, bytes: [...Buffer.from(token, "utf8")] };
}

/**
 * The mock's logprobs for one streamed piece of text: a piece is one token, so one entry for a non-empty piece and
 * none for "". The numbers are made up but fixed, so that tests can compare them.
 * @param index the piece's position in the text, which varies the numbers
 * @param top how many `top_logprobs` each entry lists (the token itself first, then runners-up); clamped to 0-20
 */
export function pieceLogprobs(piece: string, index: number, top: number): TokenLogprob[] {
  if (piece === "") return [];
  const logprob = -(((index * 7) % 10) + 1) / 100;
  const count = Math.min(Math.max(0, Math.floor(top)), MAX_TOP_LOGPROBS);
  const others = ALTERNATIVES.filter((t) => t !== piece);
  const tops = Array.from({ length: count }, (_, k) => (k === 0 ? topLogprob(piece, logprob) : topLogprob(others[k - 1] ?? "", logprob - 1.5 * k)));
  return [{ ...topLogprob(piece, logprob), top_logprobs: tops }];
}

/** One entry list per piece, in order ({@link pieceLogprobs} for each). */
export function textLogprobs(pieces: readonly string[], top: number): TokenLogprob[][] {
  return pieces.map((piece, i) => pieceLogprobs(piece, i, top));
}

/** An entry as the Responses stream events carry it (no bytes). */
export function eventLogprob(entry: TokenLogprob): EventLogprob {
  return {
    token: entry.token,
    logprob: entry.logprob,
    top_logprobs: entry.top_logprobs.map(({ token, logprob }) => ({ token, logprob })),
  };
}

/** The request's `top_logprobs` when it is a number, else 0. */
export function requestedTopLogprobs(request: Readonly<Record<string, unknown>>): number {
  const top = request["top_logprobs"];
  return typeof top === "number" ? top : 0;
}
