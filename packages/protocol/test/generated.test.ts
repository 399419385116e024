import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

const PKG = path.resolve(__dirname, "..");

function files(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p, base) : [path.relative(base, p)];
  });
}

describe("protocol generated types", () => {
  it("are fresh: regenerating from proto/ gives the committed files", () => {
    const out = mkdtempSync(path.join(tmpdir(), "luthien-gen-"));
    const script = JSON.parse(readFileSync(path.join(PKG, "package.json"), "utf8")).scripts.gen as string;
    const args = script
      .split(/\s+/)
      .slice(1)
      .map((a) => (a === "--outDir=src/gen" ? `--outDir=${out}` : a));
    execFileSync(path.join(PKG, "node_modules", ".bin", "proto-loader-gen-types"), args, { cwd: PKG });
    const committed = files(path.join(PKG, "src", "gen")).sort();
    expect(files(out).sort()).toEqual(committed);
    for (const f of committed) {
      expect(readFileSync(path.join(out, f), "utf8")).toBe(readFileSync(path.join(PKG, "src", "gen", f), "utf8"));
    }
  });
});
