import { isUuid } from "@luthien/events";
import { desc, eq, sql } from "drizzle-orm";
import type { MonitorDb } from "./db/database";
import { replayReports } from "./db/schema";
import { escapeJson } from "./sanitize";
import { pageSize } from "./store";

/** A policy's counts in a replay report (its examples are left to the full report). */
export interface ReplayPolicyCounts {
  policy: string | null;
  changed: number | null;
  blocked: number | null;
  redacted: number | null;
  held: number | null;
  rewritten: number | null;
  denied: number | null;
  tp: number | null;
  fp: number | null;
  fn: number | null;
  tn: number | null;
  precision: number | null;
  recall: number | null;
}

/** A stored report as the list shows it: what it covered and what each policy did. */
export interface ReplayReportSummary {
  id: string;
  createdAt: Date;
  since: string | null;
  until: string | null;
  calls: number | null;
  labelled: number | null;
  policies: ReplayPolicyCounts[];
}

/** Stored replay reports (`POST /api/replays`), kept as posted. */
export interface ReplayReportStore {
  save(report: Record<string, unknown>): Promise<{ id: string; createdAt: Date }>;
  /** Newest first. @default limit 50, at most 200 */
  list(limit?: number): Promise<ReplayReportSummary[]>;
  /** undefined for an id that is not one of a stored report. */
  get(id: string): Promise<{ id: string; createdAt: Date; report: unknown } | undefined>;
}

const COUNTS = ["changed", "blocked", "redacted", "held", "rewritten", "denied", "tp", "fp", "fn", "tn", "precision", "recall"] as const;

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);

function countsOf(p: Record<string, unknown>): ReplayPolicyCounts {
  const out = { policy: str(p["policy"]) } as ReplayPolicyCounts;
  for (const k of COUNTS) out[k] = num(p[k]);
  return out;
}

export function createReplayReportStore(db: MonitorDb): ReplayReportStore {
  return {
    async save(report) {
      // Examples quote model output, which may hold what PostgreSQL refuses (U+0000, lone surrogates).
      const [row] = await db
        .insert(replayReports)
        .values({ report: escapeJson(report) })
        .returning({ id: replayReports.id, createdAt: replayReports.createdAt });
      return row!;
    },
    async list(limit) {
      // The summary is read inside the database: a report with its examples and results may be megabytes.
      const rows = await db
        .select({
          id: replayReports.id,
          createdAt: replayReports.createdAt,
          since: sql<unknown>`${replayReports.report}->'since'`,
          until: sql<unknown>`${replayReports.report}->'until'`,
          calls: sql<unknown>`${replayReports.report}->'calls'`,
          labelled: sql<unknown>`${replayReports.report}->'labelled'`,
          policies: sql<unknown>`(select coalesce(jsonb_agg(p - 'examples'), '[]'::jsonb) from jsonb_array_elements(case when jsonb_typeof(${replayReports.report}->'policies') = 'array' then ${replayReports.report}->'policies' else '[]'::jsonb end) as p where jsonb_typeof(p) = 'object')`,
        })
        .from(replayReports)
        .orderBy(desc(replayReports.createdAt), desc(replayReports.id))
        .limit(pageSize(limit));
      return rows.map((r) => ({
        id: r.id,
        createdAt: r.createdAt,
        since: str(r.since),
        until: str(r.until),
        calls: num(r.calls),
        labelled: num(r.labelled),
        policies: (r.policies as Record<string, unknown>[]).map(countsOf),
      }));
    },
    async get(id) {
      if (!isUuid(id)) return undefined;
      const [row] = await db.select().from(replayReports).where(eq(replayReports.id, id));
      return row;
    },
  };
}
