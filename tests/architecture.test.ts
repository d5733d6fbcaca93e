/**
 * The import graph's rules (.dependency-cruiser.cjs), checked by
 * dependency-cruiser itself: the tree as it is passes, and a small tree that
 * breaks each rule on purpose fails with that rule's name, so a rule that
 * stopped matching would show here.
 */
import { describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const CONFIG = join(ROOT, ".dependency-cruiser.cjs");
const DEPCRUISE = join(ROOT, "node_modules/.bin/depcruise");

/** depcruise over `dirs` of `cwd`: how many modules it read, and each violation as "rule: from → to". */
function cruise(cwd: string, dirs: string[]) {
  const run = Bun.spawnSync([DEPCRUISE, ...dirs, "--config", CONFIG, "--output-type", "json"], { cwd, stderr: "pipe" });
  const out = run.stdout.toString();
  if (!out.startsWith("{")) throw new Error(`depcruise printed no report (exit ${run.exitCode}): ${run.stderr.toString()}`);
  const report = JSON.parse(out) as { summary: { violations: { rule: { name: string }; from: string; to: string }[]; totalCruised: number } };
  return { cruised: report.summary.totalCruised, violations: report.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`) };
}

describe("the import graph", () => {
  test("the project's own tree should have no circles, and imports should point only downward", () => {
    const result = cruise(ROOT, ["lib", "functions", "client", "scripts", "bench", "tests"]);
    expect(result.violations).toEqual([]);
    // A parser that cannot read TypeScript cruises nothing and so finds nothing: make sure it read the tree.
    expect(result.cruised).toBeGreaterThan(100);
  });

  test("a circle, lib reaching up, and the agent bundling server code should each fail by name", () => {
    const dir = mkdtempSync(join(tmpdir(), "obd2-depcruise-"));
    try {
      cpSync(join(ROOT, "tsconfig.json"), join(dir, "tsconfig.json"));
      const files: Record<string, string> = {
        "lib/analysis/a.ts": 'import type { B } from "./b.ts";\nexport type A = B | 1;\n',
        "lib/analysis/b.ts": 'import type { A } from "./a.ts";\nexport type B = A | 2;\n',
        "lib/http/app.ts": 'import { route } from "../../functions/ping.ts";\nexport const app = route;\n',
        "lib/time.ts": "export const now = () => new Date();\n",
        "functions/ping.ts": 'import { now } from "../lib/time.ts";\nexport const route = now;\n',
        // Kernel at run time and server types are fine; server code at run time is not.
        "client/main.ts": 'import { now } from "../lib/time.ts";\nimport type { A } from "../lib/analysis/a.ts";\nimport { app } from "../lib/http/app.ts";\nexport const x: [unknown, A?] = [now, app];\n',
      };
      for (const [path, text] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), text);
      }
      const result = cruise(dir, ["lib", "functions", "client"]);
      expect(result.violations.sort()).toEqual([
        "client-kernel-only: client/main.ts → lib/http/app.ts",
        "lib-not-up: lib/http/app.ts → functions/ping.ts",
        "no-circular: lib/analysis/a.ts → lib/analysis/b.ts",
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
