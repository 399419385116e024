import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { REPO } from "./yaml";

/** Facts about a service read from its code, so deployment files can be checked against what actually runs. */
export interface ServiceFacts {
  name: string;
  /** Workspace directories the service runs with (itself last), following production dependencies only. */
  workspaceDirs: string[];
  /** Every env variable the service or a package it runs with reads, with its default when the code states one. */
  env: Map<string, string | undefined>;
  /** Paths registered with `app.get("/...")`. */
  httpGetRoutes: Set<string>;
  /** Repository paths the compiled code opens next to itself (`path.resolve(__dirname, ...)`), e.g. `proto`. */
  runtimeFiles: Set<string>;
}

export const SERVICES = ["gateway", "control-plane", "monitor", "mock-llm"] as const;
export type ServiceName = (typeof SERVICES)[number];

const ENV_READS = [
  /\benv(?:String|Int|List|Enum)\(\s*"([A-Z][A-Z0-9_]*)"(?:\s*,\s*(?:"([^"]*)"|([\d_]+(?:\s*\*\s*[\d_]+)*)))?/g,
  /\benv\[\s*"([A-Z][A-Z0-9_]*)"\s*\]/g,
  /\bprocess\.env\.([A-Z][A-Z0-9_]*)/g,
];

/** Reads the facts of one service from its sources and those of the workspace packages it depends on. */
export function serviceFacts(name: ServiceName): ServiceFacts {
  const workspaceDirs = workspaceClosure(`services/${name}`);
  const env = new Map<string, string | undefined>();
  const httpGetRoutes = new Set<string>();
  const runtimeFiles = new Set<string>();
  for (const dir of workspaceDirs) {
    for (const file of sourceFiles(path.join(REPO, dir, "src"))) {
      const text = readFileSync(file, "utf8");
      for (const re of ENV_READS) {
        for (const m of text.matchAll(re)) {
          const literal = m[2] ?? (m[3] === undefined ? undefined : String(evalProduct(m[3])));
          if (!env.has(m[1] as string) || env.get(m[1] as string) === undefined) env.set(m[1] as string, literal);
        }
      }
      for (const m of text.matchAll(/\.get\(\s*"(\/[^"]*)"/g)) httpGetRoutes.add(m[1] as string);
      for (const m of text.matchAll(/path\.resolve\(\s*__dirname\s*,((?:\s*"[^"]*"\s*,?)+)\)/g)) {
        const parts = [...(m[1] as string).matchAll(/"([^"]*)"/g)].map((p) => p[1] as string);
        runtimeFiles.add(path.relative(REPO, path.resolve(path.dirname(file), ...parts)));
      }
    }
  }
  return { name, workspaceDirs, env, httpGetRoutes, runtimeFiles };
}

/** The service's default port, as its code reads it (`envInt("<X>_PORT", n)`). */
export function defaultPort(facts: ServiceFacts, variable: string): number {
  const v = facts.env.get(variable);
  if (v === undefined) throw new Error(`${facts.name} reads no ${variable} with a literal default`);
  return Number(v);
}

function evalProduct(expr: string): number {
  return expr.split("*").reduce((acc, n) => acc * Number(n.trim().replace(/_/g, "")), 1);
}

/** A workspace directory and, transitively, the workspace packages among its production dependencies. */
function workspaceClosure(start: string): string[] {
  const byName = new Map<string, string>();
  for (const group of ["packages", "services"]) {
    for (const d of readdirSync(path.join(REPO, group))) {
      const manifest = path.join(REPO, group, d, "package.json");
      if (existsSync(manifest)) byName.set((JSON.parse(readFileSync(manifest, "utf8")) as { name: string }).name, `${group}/${d}`);
    }
  }
  const seen: string[] = [];
  const visit = (dir: string): void => {
    if (seen.includes(dir)) return;
    const deps = (JSON.parse(readFileSync(path.join(REPO, dir, "package.json"), "utf8")) as { dependencies?: Record<string, string> }).dependencies ?? {};
    for (const [dep, spec] of Object.entries(deps)) {
      if (!spec.startsWith("workspace:")) continue;
      const depDir = byName.get(dep);
      if (depDir === undefined) throw new Error(`${dir} depends on unknown workspace package ${dep}`);
      visit(depDir);
    }
    seen.push(dir);
  };
  visit(start);
  return seen;
}

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "gen" ? [] : sourceFiles(p);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}
