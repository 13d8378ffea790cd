/**
 * The production runbook (docs/runbook.md), word for word, on the lab's production-shaped stack: production
 * domains that do not end in .test (paradigms.com, served by the lab's DNS), hosts reached by SSH, a
 * fresh stack that starts at phase 4 after its pilot, the go-live, a wave, both rolled back, and a
 * clean drift check. Every line runs as the real command (with --yes: no terminal here) and must
 * exit 0.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labMailboxFile, openLabStack, removeLabStack } from "../../lab/lab-stack";
import { PROJECT_DIR, STACKS_DIR } from "../../src/model/stack-file";
import { obtainEngine } from "../../src/ops/engine";
import type { MigrationStack } from "../../src/ops/stack";
import { testLab, verificationMessagesIn } from "../lab/env";
import { progress } from "./phase-4-stack";

const lab = testLab();
const id = randomBytes(3).toString("hex");
const names = { pilot: `lab-rb-pilot-${id}`, production: `lab-rb-prod-${id}` };
const stacks: MigrationStack[] = [];

/** The runbook's lines, as docs/runbook.md writes them between its markers. */
function runbook(): string[] {
  const readme = readFileSync(join(PROJECT_DIR, "docs", "runbook.md"), "utf8");
  const block = readme.slice(readme.indexOf("<!-- runbook:production -->"), readme.indexOf("<!-- /runbook:production -->"));
  return block
    .split("\n")
    .slice(1)
    .map((l) => l.trim())
    .filter(Boolean);
}

function run(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", join("scripts", `${script}.ts`), ...args], {
    cwd: PROJECT_DIR,
    env: { ...process.env, CUTOVER_IN_LAB: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
}

beforeAll(async () => {
  const engine = await obtainEngine();
  stacks.push(await openLabStack(names.pilot, lab.description, engine, progress));
  stacks.push(
    await openLabStack(names.production, lab.description, engine, progress, undefined, { shape: "production", pilotStack: names.pilot }),
  );
}, 120_000);
afterAll(async () => {
  for (const s of [...stacks].reverse()) {
    await s.destroy().catch((e) => progress(`destroy: ${e.message}`));
    await removeLabStack(s).catch(() => undefined);
  }
}, 300_000);

describe("the production runbook on the lab's production-shaped stack", () => {
  it("goes from a fresh stack to the go-live, a wave and back, every command exiting 0", async () => {
    const lines = runbook();
    expect(lines.filter((l) => l.startsWith("npm run")).length).toBeGreaterThanOrEqual(9);
    const production = stacks[1];
    for (const line of lines) {
      if (line.startsWith("# a wave")) {
        // The wave: user1 moves to the new system, one line of the mailbox file.
        const file = join(STACKS_DIR, labMailboxFile(names.production));
        const before = readFileSync(file, "utf8");
        writeFileSync(file, before.replace("user1@paradigms.com,legacy", "user1@paradigms.com,new"));
        expect(readFileSync(file, "utf8")).not.toBe(before);
        continue;
      }
      const m = /^npm run (\S+) -- (pilot|production) ?([^#]*?)\s*(#.*)?$/.exec(line);
      expect(m, `a runbook line the test cannot run: ${line}`).not.toBeNull();
      const [, script, stack, rest] = m!;
      const confirms = script === "phase" || script === "rollback";
      const args = [names[stack as "pilot" | "production"], ...rest.split(/\s+/).filter(Boolean), ...(confirms ? ["--yes"] : [])];
      const r = await run(script, args);
      expect(r.code, `${line}\n${r.stderr.trim().split("\n").slice(-12).join("\n")}`).toBe(0);
      // Verified the production way: no model-Internet host, mail from outside sent from here, probes only, every route read.
      if (confirms && stack === "production") {
        const verified =
          /verification passed: 6\/6 flows \(6 messages\), (\d+)\/\1 routes on 2 hosts, 3\/3 relay checks, (\d)\/\2 TLS keys, 2\/2 outbound to cutover-probe@outside-provider\.test, [\d.]+ s/.exec(
            `${r.stdout}\n${r.stderr}`,
          );
        expect(
          verified,
          `${line}: ${r.stdout
            .split("\n")
            .filter((l) => l.includes("verification"))
            .join(" | ")}`,
        ).not.toBeNull();
        progress(`${line}: ${verified![0]}`);
      }
    }
    // Where it ends: phase 4 again, the wave undone, the production domain served by the lab's DNS.
    const history = await production.history();
    expect(history[0]).toMatchObject({ kind: "update", result: "succeeded" });
    expect(history[0].config["cutover:phase"].value).toBe("4");
    expect(history.filter((h) => h.kind === "update").map((h) => h.config["cutover:phase"].value)).toEqual(["4", "5", "5", "5", "4"]);
    expect(readFileSync(join(STACKS_DIR, labMailboxFile(names.production)), "utf8")).toContain("user1@paradigms.com,legacy");

    // The history listing: each update's number as rollback --to takes it, what it was, its verification, who ran it.
    const listed = await run("history", [names.production, "--json"]);
    expect(listed.code).toBe(0);
    const rows = JSON.parse(listed.stdout) as {
      number: number;
      kind: string;
      phase: number;
      verified: string;
      moved: string;
      by: string;
    }[];
    expect(rows.map((r) => `${r.number} ${r.kind} ${r.phase} ${r.verified} ${r.moved || "-"}`)).toEqual([
      "5 rollback 4 passed -",
      "4 rollback 5 passed -",
      "3 wave 5 passed 1 user to new",
      "2 go-live 5 passed -",
      "1 phase 4 passed -",
    ]);
    expect(rows.every((r) => /^\S+@\S+$/.test(r.by))).toBe(true);
    // Test mail went to the probe mailboxes only, and none of it stayed there: no mailbox of the
    // production domain, on any host, holds a verification message.
    for (const role of ["legacy", "new"] as const) {
      const held = await verificationMessagesIn(lab, role, "paradigms.com");
      expect(held.trim(), `verification messages in paradigms.com mailboxes on ${role}`).toBe("");
    }
    const table = await run("history", [names.production]);
    expect(table.stdout.split("\n")[0]).toMatch(/^#\s+time\s+phase\s+kind\s+result\s+verified\s+moved\s+by$/);
  }, 900_000);
});
