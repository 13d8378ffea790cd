/**
 * The outside view of a production-shaped stack, which lists no model-Internet host: mail from
 * outside is sent from here (the operator's namespace) over SMTP to the MX its zone's authoritative
 * server publishes, with STARTTLS; the open-relay and TLS tests are asked from here too. Through the
 * real engine on the lab.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { keysDir, OFFICE_NS } from "../../lab/layout";
import { relayVerdict } from "../../src/checks/mail";
import { relayTestFromHere } from "../../src/checks/outside";
import { type Verification, verifyPhase } from "../../src/checks/verify";
import type { HostRole } from "../../src/model/inventory";
import { stackPlan } from "../../src/model/stack-file";
import { runPhase } from "../../src/ops/phase";
import { POSTFIX_RELOAD, SECRET_CHAIN } from "../../src/remote/effects/routing";
import { run } from "../../src/remote/local";
import { execSequence, SessionPool } from "../../src/remote/ssh";
import { testLab, verificationMessagesIn } from "../lab/env";
import { labStackAtPhase4, progress } from "./phase-4-stack";

const lab = testLab();
const current = labStackAtPhase4(lab, "lab-outside", undefined, undefined, "production");
const pool = new SessionPool();
const session = (role: HostRole) => pool.session(lab.target(role));
afterAll(() => pool.closeAll());

const fromOutside = (v: Verification) => v.flows.filter((f) => f.flow.from === "outside");

describe("a production stack's verification, without a model-Internet host", () => {
  it("sends mail from outside from here to the published MX over STARTTLS, and asks the relay and TLS tests from here", async () => {
    const p = stackPlan(current().name, 4);
    expect(p.hosts.map((h) => h.role)).not.toContain("internet");
    const v = await verifyPhase(p, { session });
    expect([...v.flows, ...v.relays, ...(v.tls ?? [])].filter((x) => !x.passed).map((x) => x.detail)).toEqual([]);
    expect(v.passed).toBe(true);
    // Only the probe mailboxes got mail, each once from outside and once from each system.
    expect(fromOutside(v).map((f) => f.flow.recipient)).toEqual(["user2@paradigms.com", "user4@paradigms.com"]);
    for (const f of fromOutside(v)) {
      expect(f.detail).toContain(`entered at legacy`);
      expect(f.detail).toMatch(
        /sent from here to mail\.paradigms\.com \[198\.51\.100\.25\] over STARTTLS, "250 2\.0\.0 Ok: queued as \w+"/,
      );
    }
    // Mail to the outside probe left each system through the ISP's relay, which took it (its 250 and queue id).
    expect(v.outbound!.map((o) => o.detail)).toEqual(
      ["legacy", "new"].map((from) =>
        expect.stringMatching(
          new RegExp(
            `^${from} -> cutover-probe@outside-provider\\.test: relay\\.isp\\.test\\[198\\.51\\.100\\.53\\]:2525 took it: "250 2\\.0\\.0 Ok: queued as \\w+"$`,
          ),
        ),
      ),
    );
    // The relay test from here: each gateway and the gateway address, answered by its holder.
    expect(v.relays.map((r) => r.server).sort()).toEqual(["198.51.100.10", "198.51.100.20", "198.51.100.25"]);
    expect(v.relays.find((r) => r.server === "198.51.100.25")!.detail).toMatch(/answered by legacy/);
    // The TLS keys from here, against the TLSA record as the zone's server publishes it (signed).
    expect(v.tls!.map((t) => `${t.server} ${t.verdict}`).sort()).toEqual([
      "198.51.100.10 verified",
      "198.51.100.20 verified",
      "198.51.100.25 verified",
    ]);
  }, 120_000);

  it("fails a go-live that did not happen: phase 5's mail from outside entered at legacy, and legacy answers the gateway address", async () => {
    const v = await verifyPhase(stackPlan(current().name, 5), { session });
    expect(v.passed).toBe(false);
    expect(fromOutside(v).length).toBe(2);
    for (const f of fromOutside(v)) expect(f.detail).toContain("it entered at legacy (");
    const gateway = v.relays.find((r) => r.server === "198.51.100.25")!;
    expect(gateway.passed).toBe(false);
    expect(gateway.detail).toMatch(/answered by legacy \(.*\), not by new/);
  }, 120_000);

  it("never passes mail to the outside probe that the relay did not take: with the relay refusing connections it is deferred, named", async () => {
    const p = stackPlan(current().name, 4);
    const fault = "table inet relay_fault { chain input { type filter hook input priority 0; tcp dport 2525 reject with tcp reset; }; }";
    await lab.inHost("internet", ["sh", "-c", `echo '${fault}' | nft -f -`]);
    try {
      const v = await verifyPhase({ ...p, flows: [] }, { session, timeoutMs: 3000 });
      expect(v.passed).toBe(false);
      for (const o of v.outbound!) {
        expect(o.undecided).toBe(true);
        // The fault struck: the relay refused the connection.
        expect(o.detail).toMatch(
          /not delivered yet: deferred \(connect to relay\.isp\.test\[198\.51\.100\.53\]:2525: Connection refused\)/,
        );
      }
      expect(v.undecided.filter((u) => u.includes("not delivered yet")).length).toBe(2);
    } finally {
      await lab.inHost("internet", ["nft", "delete table inet relay_fault"]);
    }
    // What waited in the queues goes once the relay is back.
    for (const role of ["legacy", "new"] as const) await lab.inHost(role, ["postqueue", "-f"]);
  }, 120_000);

  it("fails mail to an outside probe that bounces after the relay took it: the bounce that came back is named, and goes from the probe mailbox", async () => {
    const p = stackPlan(current().name, 4);
    // aegean.test's users exist only while a pilot stack configures the model Internet: none does here.
    const gone = { ...p, outbound: p.outbound!.map((o) => ({ ...o, recipient: "nobody@aegean.test" })) };
    const v = await verifyPhase(gone, { session });
    expect(v.passed).toBe(false);
    expect(v.outbound!.map((o) => o.passed)).toEqual([false, false]);
    for (const o of v.outbound!)
      expect(o.detail).toMatch(
        /took it: "250 [^"]*"; but a bounce of it came back \((legacy|new):\S+\/paradigms\.com\/user[24]\/\S+\): nobody@aegean\.test does not take it further on$/,
      );
    expect(v.leftInProbes).toEqual([]);
  }, 120_000);

  it("fails a gateway key that its TLSA record does not publish, asked from here: the new server's chain replaced by hand", async () => {
    const neu = await session("new");
    const tls = lab.description.tls!;
    await neu.writeFile(SECRET_CHAIN, readFileSync(join(keysDir, "legacy-gateway.pem"), "utf8"), 0o600);
    await execSequence(neu, [POSTFIX_RELOAD]);
    try {
      const v = await verifyPhase({ ...stackPlan(current().name, 4), flows: [] }, { session });
      expect(v.passed).toBe(false);
      const failed = v.tls!.filter((t) => !t.passed);
      expect(failed.map((t) => `${t.server} ${t.verdict}`)).toEqual(["198.51.100.20 mismatch"]);
      // The fault struck: the served key is the legacy gateway's.
      expect(failed[0].served).toBe(tls.legacy.spki);
    } finally {
      await neu.writeFile(SECRET_CHAIN, readFileSync(tls.new.chainFile, "utf8"), 0o600);
      await execSequence(neu, [POSTFIX_RELOAD]);
    }
  }, 120_000);

  it("fails mail from outside that the MX does not take: a recipient the gateway does not know is refused at RCPT, named", async () => {
    const p = stackPlan(current().name, 4);
    const first = p.flows.find((f) => f.from === "outside")!;
    const unknown = { ...p, flows: [{ ...first, recipient: "nobody@paradigms.com" }] };
    const v = await verifyPhase(unknown, { session, timeoutMs: 2000 });
    expect(v.flows[0].passed).toBe(false);
    expect(v.flows[0].detail).toMatch(/not sent: from here: .*mail\.paradigms\.com \[198\.51\.100\.25\]: .*55\d/);
  }, 120_000);

  it("after the go-live the office subnet (gateway.relayClients) still relays through the gateway address, now the new server's", async () => {
    expect((await runPhase(current(), 5, { yes: true, progress })).status).toBe("done");
    const office = await run(
      [
        "ip",
        "netns",
        "exec",
        OFFICE_NS,
        "swaks",
        "--server",
        "198.51.100.25",
        "--from",
        "printer@paradigms.com",
        "--to",
        "spyros@aegean.test",
        "--quit-after",
        "RCPT",
        "--timeout",
        "10",
      ],
      { allowFailure: true },
    );
    const said = `${office.stdout}\n${office.stderr}`;
    // The new server answered, and took the outside recipient from the office client.
    expect(relayVerdict(said, office.code)).toMatchObject({ verdict: "open", answeredAs: "new.paradigms.com" });
    // A stranger (here) is still refused by the same server.
    expect(await relayTestFromHere("198.51.100.25", "user2@paradigms.com")).toMatchObject({ verdict: "refused" });
  }, 240_000);
});

describe("after every verification above", () => {
  it("no verification message stays in a probe mailbox", async () => {
    for (const role of ["legacy", "new"] as const) {
      const held = await verificationMessagesIn(lab, role, "paradigms.com");
      expect(held.trim(), `verification messages in paradigms.com mailboxes on ${role}`).toBe("");
    }
  });
});
