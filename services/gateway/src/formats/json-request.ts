import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import type { Readable } from "node:stream";
import type { NextFunction, Request, Response } from "express";
import { InvalidRequestError, RequestTooLargeError } from "../errors";
import { JsonBody } from "./json-body";

/** The content encodings a body may arrive in (what `express.json` inflated), by `Content-Encoding`. */
const DECODERS: Record<string, () => NodeJS.ReadWriteStream> = { gzip: createGunzip, deflate: createInflate, br: createBrotliDecompress };

/**
 * Reads a decided route's body once, into the bytes and the parse every later stage shares (`res.locals.call.body`,
 * and `req.body` for handlers that read it). JSON only: `application/json` or a `+json` type, UTF-8, else 415 in
 * the client's format before a byte is read — accepting any type let a web page's `text/plain` or form POST (which a
 * browser sends without a preflight) through as a call. Bodies over `limit` bytes (after decompression) are 413;
 * an empty body is `{}`, as `express.json` made it.
 * @param o.limit the largest body, in bytes (MAX_BODY_BYTES)
 */
export function readJsonRequest(o: { limit: number }): (req: Request, res: Response, next: NextFunction) => void {
  return function readJsonBody(req, res, next) {
    const type = req.headers["content-type"];
    const [mediaPart, ...params] = (type ?? "").split(";");
    const media = mediaPart?.trim().toLowerCase() ?? "";
    if (media !== "application/json" && !/^[\w.+-]+\/[\w.+-]+\+json$/.test(media)) {
      throw new InvalidRequestError(`the request body must be JSON, sent with Content-Type: application/json (got ${type === undefined ? "none" : JSON.stringify(type.slice(0, 100))})`, 415);
    }
    const charset = params
      .map((p) => p.trim().toLowerCase())
      .find((p) => p.startsWith("charset="))
      ?.slice("charset=".length)
      .replace(/^"|"$/g, "");
    if (charset !== undefined && charset !== "utf-8" && charset !== "utf8")
      throw new InvalidRequestError(`the request body must be UTF-8 (got charset ${JSON.stringify(charset.slice(0, 40))})`, 415);
    const encoding = (req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
    const decoder = encoding === "identity" ? undefined : DECODERS[encoding];
    if (encoding !== "identity" && decoder === undefined) throw new InvalidRequestError(`unsupported Content-Encoding ${JSON.stringify(encoding.slice(0, 40))}`, 415);
    const declared = Number(req.headers["content-length"] ?? "0");
    if (decoder === undefined && declared > o.limit) throw new RequestTooLargeError(o.limit);

    const source: Readable | NodeJS.ReadWriteStream = decoder === undefined ? req : req.pipe(decoder());
    const parts: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err?: unknown): void => {
      if (done) return;
      done = true;
      source.removeAllListeners("data");
      if (err !== undefined) {
        // Stop reading: what is left of an oversized body is not worth the bytes.
        req.unpipe();
        req.pause();
        next(err);
        return;
      }
      const bytes = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size);
      try {
        const body = parse(bytes);
        req.body = body.value;
        res.locals.call.body = body;
      } catch (e) {
        next(e);
        return;
      }
      next();
    };
    source.on("data", (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > o.limit) return finish(new RequestTooLargeError(o.limit));
      parts.push(chunk);
    });
    source.on("end", () => finish());
    source.on("error", (err: Error) =>
      finish(new InvalidRequestError(decoder !== undefined ? "the request body could not be decompressed" : "the request body could not be read", 400, { cause: err })),
    );
    req.on("aborted", () => finish(new InvalidRequestError("the request was aborted", 400)));
  };
}

function parse(bytes: Buffer): JsonBody {
  // A UTF-8 byte order mark is no part of the JSON.
  const text = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
  if (text.length === 0) return JsonBody.fromValue({});
  try {
    return JsonBody.parse(text === bytes ? bytes : Buffer.from(text));
  } catch (err) {
    throw new InvalidRequestError("the request body is not valid JSON", 400, { cause: err });
  }
}
