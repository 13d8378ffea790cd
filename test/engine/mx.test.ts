/**
 * The mx go-live strategy on the lab, through the engine: the MX record moves to the new server on
 * the lab's own DNS server; the go-live is refused until the old TTL has passed since phase 4
 * lowered it, and --force is recorded in the stack.
 */
import { describe, expect, it } from "vitest";
import type { Phase } from "../../src/model/inventory";
import { plan } from "../../src/model/plan";
import { loadStack, stackPlan } from "../../src/model/stack-file";
import { TAGS } from "../../src/ops/guards";
import { runPhase } from "../../src/ops/phase";
import { runRollback } from "../../src/ops/rollback";
import { verifyDeployed } from "../../src/ops/verification";
import { applyZone } from "../../src/remote/effects/zone";
import { SessionPool } from "../../src/remote/ssh";
import { testLab } from "../lab/env";
import { labStackAtPhase4, progress } from "./phase-4-stack";

const lab = testLab();

/** The MX answers of the lab's DNS server as the outside host sees them: "name ttl value". */
async function mxAnswers(phase: Phase): Promise<{ planned: string[]; live: string[] }> {
  const mx = stackPlan(current().name, phase).zones.flatMap((z) => z.records.filter((r) => r.type === "MX" && r.name !== "aegean.test"));
  const live: string[] = [];
  for (const r of mx) {
    const out = await lab.inHost("internet", ["dig", "+noall", "+answer", "MX", r.name, `@${lab.description.hosts.internet!.address}`]);
    live.push(
      ...out
        .trim()
        .split("\n")
        .map((l) => l.split(/\s+/))
        .map((f) => `${f[0].replace(/\.$/, "")} ${f[1]} ${f[4]} ${f[5].replace(/\.$/, "")}`),
    );
  }
  return { planned: mx.flatMap((r) => r.values.map((v) => `${r.name} ${r.ttl} ${v}`)).sort(), live: live.sort() };
}

const current = labStackAtPhase4(lab, "lab-mx", (s) => s.setConfig({ "cutover:inventory.goLive.strategy": { value: "mx" } }, true));

describe("the mx go-live strategy", () => {
  it("lowers the MX TTL in phase 4, refuses the go-live until the old TTL has passed, and records a forced go-live", async () => {
    const stack = current();
    const inv = loadStack(stack.name, 5).inventory;
    const at4 = await mxAnswers(4);
    expect(at4.live).toEqual(at4.planned);
    expect(at4.live.every((a) => a.split(" ")[1] === String(inv.ttl.mxSwitch))).toBe(true);

    const refused = await runPhase(stack, 5, { yes: true, progress });
    expect(refused.status).toBe("refused");
    expect(refused.refusals.map((r) => r.guard)).toEqual(["mx-ttl"]);
    expect(refused.refusals[0].message).toMatch(
      new RegExp(`old TTL of ${inv.ttl.records} s: the go-live may run from \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(in \\d+ s\\)`),
    );
    // Nothing changed: the MX still names the gateway.
    expect((await mxAnswers(4)).live).toEqual(at4.live);

    const forced = await runPhase(stack, 5, { yes: true, force: true, progress });
    expect(forced).toMatchObject({ status: "done", forced: true });
    expect((await stack.tags())[TAGS.forced]).toMatch(/phase 5: mx-ttl$/);
    expect((await stack.history())[0].message).toMatch(/^phase 5: go-live \(forced past: mx-ttl\) by \S+@\S+$/);
    const at5 = await mxAnswers(5);
    expect(at5.live).toEqual(at5.planned);
    expect(at5.live.every((a) => a.endsWith(plan(inv, 5).hosts.find((h) => h.role === "new")!.ownName))).toBe(true);

    // The stack says phase 5, but the MX was put back to the legacy gateway by hand: the mail from
    // outside still reaches every mailbox (split delivery), and the verification names where it entered.
    const mxZones = stackPlan(stack.name, 5).zones.filter((z) => z.records.some((r) => r.type === "MX" && r.name !== "aegean.test"));
    const p4Mx = (zone: string) =>
      stackPlan(stack.name, 4)
        .zones.find((z) => z.name === zone)!
        .records.filter((r) => r.type === "MX");
    const pool = new SessionPool();
    const dns = await pool.session(lab.target("internet"));
    const target = (zone: string) => ({ zone, server: "127.0.0.1", tsig: lab.description.tsig });
    try {
      for (const z of mxZones) await applyZone(dns, target(z.name), [...z.records.filter((r) => r.type !== "MX"), ...p4Mx(z.name)]);
      expect((await mxAnswers(4)).live).toEqual(at4.live);
      const v = await verifyDeployed(stack, progress);
      expect(v).toMatchObject({ phase: 5, status: "verification-failed" });
      const fromOutside = v.verification!.flows.filter((f) => f.flow.from === "outside" && f.flow.entry !== "internet");
      expect(fromOutside.length).toBeGreaterThan(0);
      for (const f of fromOutside) expect(f.detail).toMatch(/it entered at legacy \(\S+\), not at new \(/);
    } finally {
      for (const z of mxZones) await applyZone(dns, target(z.name), z.records);
      await pool.closeAll();
    }
    expect((await mxAnswers(5)).live).toEqual(at5.live);

    const back = await runRollback(stack, { yes: true, progress });
    expect(back.status).toBe("done");
    expect((await mxAnswers(4)).live).toEqual(at4.live);
  }, 300_000);
});
