/**
 * The two layouts beside the pilot's, rehearsed through the real engine on the lab: post offices
 * (user@<post office>.<domain>, an MX per post office) and a smart host in front of the gateway (a
 * namespace of its own). The short pass: phases 1-5 and the rollback of the go-live, every mail
 * flow checked after each step; it skips the second go-live, the wave and the wave's rollback,
 * whose code does not depend on the layout (the pilot's full rehearsal runs them).
 */
import { describe, expect, it } from "vitest";
import { type RehearsalReport, rehearse } from "../../lab/rehearsal";
import { queryRecord } from "../../src/checks/dns-query";
import type { Layout } from "../../src/model/inventory";
import { stackPlan } from "../../src/model/stack-file";
import { obtainEngine } from "../../src/ops/engine";
import { testLab } from "../lab/env";

const STEPS = ["before cutover", "phase 1", "phase 2", "phase 3", "phase 4", "phase 5: go-live", "rollback"];

async function shortRehearsal(layout: Layout) {
  const lab = testLab();
  const stackName = `lab-${layout}-${Date.now().toString(36)}`;
  let dispose: () => Promise<void> = async () => {};
  const { report, stack } = await rehearse({
    lab: lab.description,
    engine: await obtainEngine(),
    stackName,
    layout,
    short: true,
    progress: (m) => process.stderr.write(`${m}\n`),
    onStack: (d) => (dispose = d),
  });
  const p4 = stackPlan(stackName, 4);
  const mx = async (domain: string) => (await queryRecord(lab.description.dnsServer, domain, "MX")).values;
  return {
    report,
    p4,
    mx,
    done: async () => {
      await stack.destroy();
      await dispose();
    },
  };
}

/** Every step's checks passed, and the legacy gateway's own services held; both switches were seen. */
function expectEveryStepPassed(report: RehearsalReport, layout: Layout) {
  expect(report.layout).toBe(layout);
  expect(report.steps.map((s) => s.step)).toEqual(STEPS);
  expect(report.steps.flatMap((s) => s.failures)).toEqual([]);
  expect(report.steps.slice(1).every((s) => s.ok && s.passed === s.flows && s.flows > 0)).toBe(true);
  expect(report.switches.map((s) => s.outageMs !== undefined)).toEqual([true, true]);
}

describe("every layout through the engine", () => {
  it("post-offices: an MX per post office, each user reached at user@<post office>.<domain>, go-live and rollback", async () => {
    const { report, p4, mx, done } = await shortRehearsal("post-offices");
    try {
      expectEveryStepPassed(report, "post-offices");
      // After the rollback the stack is at phase 4: both post offices' domains have their own MX to the gateway.
      const officeDomains = ["north.offices.test", "south.offices.test"];
      for (const d of officeDomains) expect(await mx(d)).toEqual(["10 mail.offices.test"]);
      expect(new Set(p4.flows.filter((f) => f.mailboxHost !== "internet").map((f) => f.recipient.split("@")[1]))).toEqual(
        new Set(officeDomains),
      );
      expect(report.passed).toBe(true);
    } finally {
      await done();
    }
  }, 400_000);

  it("smart-host: the MX leads to the smart host, every message from outside passes it, go-live and rollback", async () => {
    const { report, p4, mx, done } = await shortRehearsal("smart-host");
    try {
      expectEveryStepPassed(report, "smart-host");
      expect(await mx("relayed.test")).toEqual(["10 relay.relayed.test"]);
      // The verification judged these flows by their Received path too: through the smart host's address.
      const viaSmartHost = p4.flows.filter((f) => f.from === "outside" && f.mailboxHost !== "internet");
      expect(viaSmartHost.length).toBeGreaterThan(0);
      expect(viaSmartHost.every((f) => f.entry === "smartHost" && f.via === "198.51.100.30")).toBe(true);
      expect(report.passed).toBe(true);
    } finally {
      await done();
    }
  }, 400_000);
});
