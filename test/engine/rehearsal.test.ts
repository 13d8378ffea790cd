/**
 * The README's main job, end to end: the rehearsal on the lab through the real engine.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rehearse, renderReport, writeReport } from "../../lab/rehearsal";
import { STACKS_DIR } from "../../src/model/stack-file";
import { obtainEngine } from "../../src/ops/engine";
import { testLab } from "../lab/env";

describe("the rehearsal", () => {
  it("runs phases 1-5, go-live, rollback, go-live again and a wave with every mail flow checked", async () => {
    const lab = testLab();
    const stackName = `lab-rehearsal-test-${Date.now().toString(36)}`;
    let dispose: () => Promise<void> = async () => {};
    const { report, stack } = await rehearse({
      lab: lab.description,
      engine: await obtainEngine(),
      stackName,
      progress: (m) => process.stderr.write(`${m}\n`),
      onStack: (d) => (dispose = d),
    });
    try {
      expect(report.steps.map((s) => s.step)).toEqual([
        "before cutover",
        "phase 1",
        "phase 2",
        "phase 3",
        "phase 4",
        "phase 5: go-live",
        "rollback",
        "go-live again",
        "reboot of new after the go-live",
        "reboot of legacy after the go-live",
        "wave (2 users)",
        "wave rolled back",
      ]);
      expect(report.steps.flatMap((s) => s.failures)).toEqual([]);
      const steps = report.steps.slice(1);
      expect(steps.every((s) => s.ok && s.passed === s.flows && s.flows > 0)).toBe(true);
      // The legacy gateway's own office relay, SASL submission and relay refusal held before
      // cutover and after every step.
      expect(report.steps.map((s) => s.own.map((c) => `${c.service} ${c.ok}`))).toEqual(
        report.steps.map(() => ["office relay true", "SASL submission true", "stranger refused true"]),
      );
      expect(report.switches.map((s) => `${s.name} ${s.from}->${s.to}`)).toEqual([
        "go-live legacy->new",
        "rollback new->legacy",
        "go-live again legacy->new",
      ]);
      for (const s of report.switches) expect(s.outageMs, s.name).toBeGreaterThan(0);
      expect(report.passed).toBe(true);
      // The wave moved two users in the stack's own mailbox file, one line each; its rollback put
      // back the exact file the update before it ran with, from the stack's archive.
      expect(report.steps.find((s) => s.step === "wave (2 users)")!.changes).toMatchObject({ update: 3 });
      expect(readFileSync(join(STACKS_DIR, `mailboxes.${stackName}.csv`), "utf8")).toBe(
        readFileSync(join(STACKS_DIR, "mailboxes.pilot.csv"), "utf8"),
      );
      const files = writeReport(report);
      expect(existsSync(files.json) && existsSync(files.markdown)).toBe(true);
      expect(renderReport(report).markdown).toMatch(/\| go-live \| legacy -> new \| \d+ ms \|/);
    } finally {
      await stack.destroy();
      await dispose();
    }
    expect(existsSync(join(STACKS_DIR, `mailboxes.${stackName}.csv`))).toBe(false);
  }, 300_000);
});
