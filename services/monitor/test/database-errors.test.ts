import { isTransientDatabaseError } from "../src/index";

const pgError = (code: string, message = "x"): Error => Object.assign(new Error(message), { code });

describe("isTransientDatabaseError", () => {
  it("takes a lost or refused connection for transient, whatever wraps it", () => {
    expect(isTransientDatabaseError(pgError("57P01", "terminating connection due to administrator command"))).toBe(true);
    expect(isTransientDatabaseError(pgError("57P03", "the database system is starting up"))).toBe(true);
    expect(isTransientDatabaseError(pgError("08006"))).toBe(true);
    expect(isTransientDatabaseError(pgError("53300", "too many connections"))).toBe(true);
    expect(isTransientDatabaseError(pgError("40001"))).toBe(true);
    for (const code of ["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EAI_AGAIN"]) expect(isTransientDatabaseError(pgError(code))).toBe(true);
    expect(isTransientDatabaseError(new Error("Connection terminated unexpectedly"))).toBe(true);
    // drizzle's "Failed query: …" wrapper carries the driver's error as its cause.
    expect(isTransientDatabaseError(new Error("Failed query: begin", { cause: pgError("57P01") }))).toBe(true);
  });

  it("takes a refusal of the data for what it is: not transient (the message may become a dead letter)", () => {
    expect(isTransientDatabaseError(pgError("22P05", "unsupported Unicode escape sequence"))).toBe(false);
    expect(isTransientDatabaseError(pgError("23505", "duplicate key value"))).toBe(false);
    expect(isTransientDatabaseError(pgError("54000", "total size of jsonb array elements exceeds the maximum"))).toBe(false);
    expect(isTransientDatabaseError(new Error("Failed query: insert", { cause: pgError("22021") }))).toBe(false);
    expect(isTransientDatabaseError("nope")).toBe(false);
  });
});
