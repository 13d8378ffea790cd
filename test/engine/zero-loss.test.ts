/**
 * Zero loss on the lab, through the engine: the outside MTA streams 25 messages a second for 30 s to
 * mailboxes on both systems while the go-live and the rollback run mid-stream, plainly and with
 * faults. Every message handed over must end in exactly one mailbox, the right one.
 */
import { describe, expect, it } from "vitest";
import { type Fault, summaryLine, writeZeroLossReport, zeroLossRun } from "../../lab/zero-loss";
import { testLab } from "../lab/env";
import { labStackAtPhase4, progress } from "./phase-4-stack";

const lab = testLab();

const current = labStackAtPhase4(lab, "lab-zero-loss");

const RUNS: [Fault, string][] = [
  ["none", "go-live and rollback mid-stream"],
  ["mta-killed", "the new server's MTA killed for 5 s after the go-live"],
  ["ssh-cut", "the SSH connection cut between release and take; re-running the go-live finishes it"],
  ["engine-killed", "the engine killed between release and take; the rollback recovers"],
];

describe("zero loss under a steady stream of mail", () => {
  for (const [fault, what] of RUNS) {
    it(`${what}: every message handed over ends in exactly one mailbox, the right one`, async () => {
      const stack = current();
      const r = await zeroLossRun({ stack, lab: lab.description, fault, rate: 25, seconds: 30, progress });
      const files = await writeZeroLossReport(r);
      progress(`${summaryLine(r)}\n  ${r.notes.join("\n  ")}\n  ${files.json}, ${files.svg}`);
      expect(r.tally.sent).toBeGreaterThanOrEqual(20 * 30);
      expect(r.tally.refused).toBe(0);
      expect(r.tally.problems).toEqual({ lost: [], duplicated: [], misdelivered: [] });
      expect(r.tally.delivered).toBe(r.tally.sent);
      // Both systems received mail, and the switch shows as a gap, not as silence for the whole run.
      const hosts = new Set(r.timeline.flatMap((b) => Object.keys(b.delivered)));
      expect([...hosts].sort()).toEqual(["legacy", "new"]);
      // The stack ends where it started, cleanly: phase 4, nothing pending, the last update succeeded.
      const history = await stack.history();
      expect(history[0]).toMatchObject({ kind: "update", result: "succeeded" });
      expect(history[0].config["cutover:phase"].value).toBe("4");
      expect(await stack.pendingOperations()).toEqual([]);
    }, 300_000);
  }
});
