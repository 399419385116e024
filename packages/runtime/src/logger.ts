export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  /** Lifecycle lines (listening, stopping): printed whatever LOG_LEVEL says, since tools wait for them. */
  notice(msg: string, fields?: LogFields): void;
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, notice: 50 } as const;
type Level = keyof typeof LEVELS;

/**
 * A line-per-record logger on stdout: `12:00:01.234 gateway info listening port=8000`. Values with spaces are
 * quoted. Callers pass ids and counts, never credentials or bodies. `LOG_LEVEL` (debug|info|warn|error, default
 * info) sets the threshold.
 */
export function createLogger(service: string): Logger {
  const threshold = LEVELS[(process.env["LOG_LEVEL"] as Level | undefined) ?? "info"] ?? LEVELS.info;
  const write = (level: Level, msg: string, fields?: LogFields): void => {
    if (LEVELS[level] < threshold) return;
    let line = `${new Date().toISOString().slice(11, 23)} ${service} ${level} ${msg}`;
    for (const [k, v] of Object.entries(fields ?? {})) {
      if (v === undefined) continue;
      const s = String(v);
      line += ` ${k}=${/[\s"=]/.test(s) || s === "" ? JSON.stringify(s) : s}`;
    }
    process.stdout.write(line + "\n");
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    notice: (m, f) => write("notice", m, f),
  };
}
