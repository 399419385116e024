import { InvalidEventError } from "./errors";

/** Every activity event is published on `luthien.activity.<type>`. */
export const ACTIVITY_SUBJECT_PREFIX = "luthien.activity";

/** The wildcard that matches every activity subject. */
export const ACTIVITY_SUBJECTS = `${ACTIVITY_SUBJECT_PREFIX}.>`;

/** The JetStream stream that captures {@link ACTIVITY_SUBJECTS}. */
export const ACTIVITY_STREAM = "LUTHIEN_ACTIVITY";

// A type is one or more dot-separated tokens of letters, digits, `_` and `-`: a valid NATS subject tail with no
// wildcards, whitespace or empty tokens, so `luthien.activity.policy.>` style filters work on it.
const TYPE_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Longest accepted event type, in characters. */
export const MAX_TYPE_LENGTH = 200;

/** True when `type` can be an activity event type (and so a subject tail). */
export function isValidEventType(type: string): boolean {
  return type.length <= MAX_TYPE_LENGTH && TYPE_RE.test(type);
}

/**
 * The subject an event of `type` is published on: `luthien.activity.<type>`.
 * @throws InvalidEventError when `type` is not a valid type (see {@link isValidEventType})
 */
export function subjectFor(type: string): string {
  if (!isValidEventType(type)) throw new InvalidEventError("type", `not a valid event type: ${JSON.stringify(type)}`);
  return `${ACTIVITY_SUBJECT_PREFIX}.${type}`;
}

/**
 * The type carried by an activity subject (`luthien.activity.call.started` → `call.started`), or undefined when the
 * subject is not under {@link ACTIVITY_SUBJECT_PREFIX}.
 */
export function typeFromSubject(subject: string): string | undefined {
  return subject.startsWith(ACTIVITY_SUBJECT_PREFIX + ".") ? subject.slice(ACTIVITY_SUBJECT_PREFIX.length + 1) : undefined;
}

/**
 * A subscription subject from a short filter, for tools: `""`, `">"` or undefined → every activity subject;
 * `"policy.>"` → `luthien.activity.policy.>`; a filter already starting with `luthien.` is taken as is.
 */
export function activitySubjectFilter(filter?: string): string {
  const f = (filter ?? "").trim();
  if (f === "" || f === ">") return ACTIVITY_SUBJECTS;
  if (f.startsWith("luthien.")) return f;
  return `${ACTIVITY_SUBJECT_PREFIX}.${f}`;
}
