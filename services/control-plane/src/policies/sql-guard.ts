import { createToolCallGate, type AnyPolicy, type ToolCallDecision } from "@luthien/policy-sdk";
import { readOptions } from "./options";
import { stringsIn } from "./tool-input";

/** Statements that destroy data whole, wherever they appear in a string. */
const ALWAYS: readonly { re: RegExp; what: string }[] = [
  { re: /\bDROP\s+(?:TABLE|DATABASE|SCHEMA)\b/i, what: "DROP TABLE/DATABASE" },
  // TRUNCATE needs SQL around it, so that "truncate the log" in prose does not count.
  { re: /\bTRUNCATE\s+(?:TABLE\b|(?:ONLY\s+)?[\w."`]+\s*(?:[;,]|$|["')]|\bCASCADE\b|\bRESTART\b))/im, what: "TRUNCATE" },
];

/** DELETE and UPDATE are dangerous only without a WHERE in the same statement. */
const UNLESS_WHERE: readonly { re: RegExp; what: string }[] = [
  { re: /\bDELETE\s+FROM\s+[\w."`]+/gi, what: "DELETE without WHERE" },
  { re: /\bUPDATE\s+(?:ONLY\s+)?[\w."`]+\s+SET\b/gi, what: "UPDATE without WHERE" },
];

/** Why `text` is destructive SQL, or undefined. */
export function destructiveSql(text: string): string | undefined {
  for (const { re, what } of ALWAYS) if (re.test(text)) return what;
  for (const { re, what } of UNLESS_WHERE) {
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      // The statement runs to the next ";" (or the end of the string).
      const end = text.indexOf(";", m.index);
      const statement = text.slice(m.index, end === -1 ? undefined : end);
      if (!/\bWHERE\b/i.test(statement)) return what;
    }
  }
  return undefined;
}

/**
 * Blocks tool calls whose input (any string value, searched recursively) contains destructive SQL: DROP
 * TABLE/DATABASE/SCHEMA, TRUNCATE, or DELETE/UPDATE without a WHERE in the same statement. Works through the
 * tool-call gate: the call is replaced by a BLOCKED text and the stop reason fixed.
 *
 * Options: none. Events: `blocked {tool, id, reason}`.
 */
export function createSqlGuardPolicy(options: unknown, path: string): AnyPolicy {
  readOptions(options, path, []);
  return createToolCallGate({
    name: "sql-guard",
    decide(call): ToolCallDecision {
      for (const s of stringsIn(call.input)) {
        const why = destructiveSql(s);
        if (why !== undefined) return { action: "block", reason: `destructive SQL: ${why}` };
      }
      return { action: "allow" };
    },
  });
}
