/**
 * Zero loss on the lab, through the engine: the outside MTA streams 25 messages a second for 30 s to
 * mailboxes on both systems while the go-live and the rollback run mid-stream, plainly and with
 * faults (mail deferred in the legacy gateway's queue at the switch among them), and while the
 * go-live runs with the legacy gateway dead. Every message handed over must
 * end in exactly one mailbox, the right one.
 */
import { describe, expect, it } from "vitest";
import { type Fault, summaryLine, writeZeroLossReport, zeroLossRun } from "../../lab/zero-loss";
import { stackPlan } from "../../src/model/stack-file";
import { testLab } from "../lab/env";
import { labStackAtPhase4, progress } from "./phase-4-stack";

const lab = testLab();

const current = labStackAtPhase4(lab, "lab-zero-loss");

const RATE = 25;
const SECONDS = 30;

/** Each run: its fault, what it shows, and every command it runs with how that must end. */
const RUNS: [Fault, string, [string, string][]][] = [
  [
    "none",
    "go-live and rollback mid-stream",
    [
      ["go-live", "done"],
      ["rollback", "done"],
    ],
  ],
  [
    "mta-killed",
    "the new server's MTA killed for 5 s after the go-live",
    [
      ["go-live", "done"],
      ["new server's MTA killed for 5 s", "done"],
      ["rollback", "done"],
    ],
  ],
  [
    "new-rebooted",
    "the new server rebooted after the go-live: it comes back holding the address from its own configuration",
    [
      ["go-live", "done"],
      ["new server rebooted", "done"],
      ["rollback", "done"],
    ],
  ],
  [
    "ssh-cut",
    "the SSH connection cut between release and take; re-running the go-live finishes it",
    [
      ["go-live (interrupted)", "failed"],
      ["go-live re-run", "done"],
      ["rollback", "done"],
    ],
  ],
  [
    "engine-killed",
    "the engine killed between release and take; the rollback recovers",
    [
      ["go-live (interrupted)", "failed"],
      ["pulumi cancel", "done"],
      ["rollback after the kill", "done"],
    ],
  ],
  [
    "deferred",
    "mail deferred in the legacy gateway's queue at the go-live (the new server unreachable from it until it holds the address)",
    [
      ["go-live", "done"],
      ["rollback", "done"],
    ],
  ],
  [
    "agent-killed",
    "the new server's delivery agents SIGKILLed for 5 s while they write mail (no go-live)",
    [["new server's delivery agents SIGKILLed for 5 s", "done"]],
  ],
  [
    "legacy-down",
    "the legacy gateway dead (powered off) when the go-live starts; the go-live with --legacy-down takes its address, and phase 5 again finishes once it is back",
    [
      ["legacy gateway powered off", "done"],
      ["go-live (legacy down)", "unverified"],
      ["legacy gateway back", "done"],
      ["go-live re-run", "done"],
    ],
  ],
];

describe("zero loss under a steady stream of mail", () => {
  for (const [fault, what, commands] of RUNS) {
    it(`${what}: every message handed over ends in exactly one mailbox, the right one`, async () => {
      const stack = current();
      const r = await zeroLossRun({ stack, lab: lab.description, fault, rate: RATE, seconds: SECONDS, progress });
      const files = await writeZeroLossReport(r);
      progress(`${summaryLine(r)}\n  ${r.notes.join("\n  ")}\n  ${files.json}, ${files.svg}`);
      // Every command ended as it must: a fault makes its update fail, the recovery finishes.
      expect(r.commands.map((c) => [c.name, c.status.startsWith("failed") ? "failed" : c.status])).toEqual(commands);
      // The whole stream was handed over, and nothing was left in a queue when counting stopped.
      expect(r.streamExitCode).toBe(0);
      expect(r.tally.sent).toBe(RATE * SECONDS);
      expect(r.tally.refused).toBe(0);
      expect(r.queuedAtEnd).toBe(0);
      expect(r.tally.problems.lost).toEqual([]);
      expect(r.tally.problems.misdelivered).toEqual([]);
      // A delivery agent killed after its message is in new/ but before it reports so to the queue
      // manager makes postfix deliver that message again: no transaction spans the maildir and the
      // queue. Only the agent-killed run kills agents. Likewise a host that loses power between
      // writing or handing on a message and recording so hands it on again when it is back: in the
      // legacy-down run, only a message in the dead gateway's queue files may arrive twice. Every
      // other run must have no duplicate.
      if (fault === "legacy-down") expect(r.tally.problems.duplicated.filter((m) => !r.heldAtPowerOff!.includes(m))).toEqual([]);
      else if (fault === "agent-killed") {
        // The fault struck: agents died; each one killed can have left at most one message to deliver twice.
        expect(r.agentsKilled).toBeGreaterThan(0);
        expect(r.tally.duplicated).toBeLessThanOrEqual(r.agentsKilled!);
      } else expect(r.tally.problems.duplicated).toEqual([]);
      // The go-live with the legacy gateway dead took its address (its "unverified" is the flag's own word).
      if (fault === "legacy-down") {
        expect(r.notes).toContainEqual(expect.stringMatching(/^the new server held the address [\d.]+ s after the power-off$/));
        // One host answered ARP for the address once the new server took it, and still one once the
        // legacy gateway was back: never two hosts each taking a part of the mail.
        expect(r.arpAnswerers).toEqual({ atTake: ["new"], atEnd: ["new"] });
      }
      // The interrupted go-live failed because of the cut: on the new server, whose SSH sessions died.
      if (fault === "ssh-cut") expect(r.notes.find((n) => n.startsWith("the go-live update failed:"))).toMatch(/ on new \(/);
      // Every message arrived: once, or (a duplicate, above) more than once.
      expect(r.tally.delivered + r.tally.duplicated).toBe(r.tally.sent);
      // The outside sender enforces DANE: no delivery of the run waited because the gateway's key did
      // not verify, through the switches. (A session cut mid-handshake by the switch is retried like
      // one cut at EHLO: the report counts those apart, as handshakeCuts.)
      expect(r.tlsDeferred).toEqual([]);
      // Both systems received mail, and the switch shows as a gap, not as silence for the whole run.
      const hosts = new Set(r.timeline.flatMap((b) => Object.keys(b.delivered)));
      expect([...hosts].sort()).toEqual(["legacy", "new"]);
      // The address really moved: the new server greeted under its own name mid-run (unless the
      // engine died before it took the address), and the legacy gateway again after the rollback.
      const own = (role: string) => stackPlan(stack.name, 4).hosts.find((h) => h.role === role)!.ownName;
      const greeters = r.greetings.map((g) => g.server);
      expect(greeters[0]).toBe(own("legacy"));
      expect(greeters.includes(own("new"))).toBe(fault !== "engine-killed" && fault !== "agent-killed");
      // The stack ends cleanly (nothing pending, the last update succeeded): where it started, at
      // phase 4, after the rollback; the legacy-down run at phase 5, the legacy gateway back.
      const endsAt = fault === "legacy-down" ? 5 : 4;
      expect(greeters.at(-1)).toBe(own(endsAt === 5 ? "new" : "legacy"));
      const last = r.events.find((e) => e.name.startsWith(endsAt === 5 ? "go-live re-run" : "rollback")) ?? r.events.at(-1)!;
      expect(r.greetings.at(-1)!.t).toBeLessThanOrEqual(last.end);
      const history = await stack.history();
      expect(history[0]).toMatchObject({ kind: "update", result: "succeeded" });
      expect(history[0].config["cutover:phase"].value).toBe(String(endsAt));
      expect(await stack.pendingOperations()).toEqual([]);
      // The engine died after the release: the rollback put the address back before its own engine run.
      expect(r.notes.includes("the rollback found the gateway's address on no host and put it back before the engine ran")).toBe(
        fault === "engine-killed",
      );
      // The fault struck while the stream ran: mail was handed over after the new server's MTA died.
      if (fault === "mta-killed" || fault === "new-rebooted") expect(r.sentAfterFault).toBeGreaterThan(0);
      // The fault struck: mail of the run waited in the legacy gateway's deferred queue when the address moved.
      if (fault === "deferred") expect(r.deferredAtSwitch).toBeGreaterThan(0);
      if (fault === "legacy-down") {
        // The go-live that took the address without the legacy gateway is in the history as such.
        expect(history[1].message).toMatch(/^phase 5: go-live \(legacy down: not drained\) by /);
        expect(history[1].config["cutover:legacyDown"]?.value).toBe("true");
        expect(history[0].config["cutover:legacyDown"]).toBeUndefined();
      }
    }, 300_000);
  }
});
