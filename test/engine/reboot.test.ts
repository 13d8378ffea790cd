/**
 * The go-live survives the real world (issue 40): the lab reboots its gateways as hosts reboot
 * (every process killed, addresses and name gone, then `ifup -a` from the host's own
 * /etc/network/interfaces, its name from its own /etc/hostname, sshd and postfix started), and
 * after the go-live, and after a rollback, the host holding the gateway address is still the one
 * the last phase made it, without any cutover command. Through the real engine on the lab.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { rebootHost } from "../../lab/lab";
import { arpAnswerers } from "../../lab/zero-loss";
import { CONFIG } from "../../src/model/config-keys";
import { STACKS_DIR } from "../../src/model/stack-file";
import { stackDrift } from "../../src/ops/drift";
import { runPhase } from "../../src/ops/phase";
import { runRollback } from "../../src/ops/rollback";
import { withSession } from "../../src/remote/ssh";
import { testLab } from "../lab/env";
import { labStackAtPhase4, progress } from "./phase-4-stack";

const lab = testLab();
const current = labStackAtPhase4(lab, "lab-reboot");
const address = lab.description.serviceAddress;

/** The first line a client gets at the gateway address, port 25 (from the operator's workstation). */
function greeting(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port: 25, timeout: 10_000 });
    let text = "";
    socket.on("data", (d) => {
      text += d;
      if (text.includes("\n")) {
        socket.end("QUIT\r\n");
        resolve(text.split("\r\n")[0]);
      }
    });
    socket.on("timeout", () => socket.destroy(new Error(`no greeting at ${address}:25 in 10 s`)));
    socket.on("error", reject);
  });
}

const hostFile = (role: "legacy" | "new", path: string) => lab.inHost(role, ["sh", "-c", 'cat "$1" 2>/dev/null || true', "sh", path]);

afterAll(async () => {
  // Whatever the tests left: the gateways up again (a failed reboot would leave a host down for the next file).
  for (const role of ["legacy", "new"] as const) await rebootHost(role).catch(() => undefined);
}, 120_000);

describe("a reboot of either gateway keeps what the last phase set", () => {
  let atGoLive = "";
  it("a go-live onto a host whose postfix would not listen on the gateway address is refused before anything moves, naming the fix", async () => {
    const neu = lab.target("new");
    await withSession(neu, (s) => s.exec(["postconf", "-e", "inet_interfaces=loopback-only"]));
    try {
      const r = await runPhase(current(), 5, { yes: true, progress });
      expect(r.status).toBe("refused");
      expect(r.refusals.map((x) => `${x.guard}: ${x.message}`)).toEqual([
        expect.stringMatching(
          /^go-live pre-flight: new \(198\.51\.100\.20\), which is to take the gateway's address: postfix listens on inet_interfaces = loopback-only only, not on .*: set inet_interfaces = all/,
        ),
      ]);
      expect(await arpAnswerers(lab.description)).toEqual(["legacy"]);
    } finally {
      await withSession(neu, (s) => s.exec(["postconf", "-e", "inet_interfaces=all"]));
    }
  }, 300_000);

  it("a go-live onto a host that does not offer the gateway's services (gateway.services) is refused, naming each gap", async () => {
    const file = join(STACKS_DIR, `Pulumi.${current().name}.yaml`);
    const text = readFileSync(file, "utf8");
    const doc = parse(text);
    // Both systems offer the roaming users submission with SASL (lab/daemons.ts); neither serves POP3 or IMAPS.
    doc.config[CONFIG.inventory].gateway.services = ["submission", "pop3", "imaps"];
    writeFileSync(file, stringify(doc));
    try {
      const r = await runPhase(current(), 5, { yes: true, progress });
      expect(r.status).toBe("refused");
      expect(r.refusals.map((x) => x.message)).toEqual([
        // A changed inventory is not the one phase 4 verified: that guard says so too.
        expect.stringMatching(/^the go-live needs the phase-4 verification to have passed on the current inventory/),
        expect.stringMatching(
          /^new \(198\.51\.100\.20\), which is to take the gateway's name, does not offer what the gateway offers its clients \(gateway\.services\): pop3: nothing listens on port 110; set it up there first/,
        ),
        expect.stringMatching(/: imaps: nothing listens on port 993; /),
      ]);
      expect(await arpAnswerers(lab.description)).toEqual(["legacy"]);
    } finally {
      writeFileSync(file, text);
    }
  }, 300_000);

  it("after the go-live, the new server comes back from a reboot at the gateway address with the gateway's name", async () => {
    expect((await runPhase(current(), 5, { yes: true, progress })).status).toBe("done");
    atGoLive = await greeting();
    expect(await arpAnswerers(lab.description)).toEqual(["new"]);
    // Written where the hosts' own configuration keeps it.
    expect(await hostFile("new", "/etc/network/interfaces.d/cutover-gateway")).toContain(`address ${address}/24`);
    expect(await hostFile("legacy", "/etc/network/interfaces")).toMatch(
      new RegExp(`^#cutover-released# +address ${address.replace(/\./g, "\\.")}/24$`, "m"),
    );
    const name = atGoLive.split(" ")[1];
    expect((await hostFile("new", "/etc/hostname")).trim()).toBe(name);

    await rebootHost("new", progress);
    expect(await greeting()).toBe(atGoLive);
    expect(await arpAnswerers(lab.description)).toEqual(["new"]);
    // The kernel's name as a session on the host sees it (the host's own UTS namespace in the lab).
    expect((await withSession(lab.target("new"), (s) => s.exec(["hostname"]))).stdout.trim()).toBe(name);
  }, 300_000);

  it("a reboot of the legacy gateway after the go-live does not bring the address back: one host answers for it, the new one", async () => {
    await rebootHost("legacy", progress);
    expect(await arpAnswerers(lab.description)).toEqual(["new"]);
    expect(await greeting()).toBe(atGoLive);
    // The drift check finds the hosts' configuration as they run.
    const r = await stackDrift(current(), { skipEngine: true });
    expect(r.findings.filter((f) => f.check.startsWith("persisted configuration")).map((f) => `${f.subject} ${f.status}`)).toEqual([
      "legacy ok",
      "new ok",
    ]);
  }, 300_000);

  it("an address written only at run time is drift, named; the phase run again writes it", async () => {
    await lab.inHost("new", ["rm", "/etc/network/interfaces.d/cutover-gateway"]);
    const drift = await stackDrift(current(), { skipEngine: true });
    const found = drift.findings.find((f) => f.subject === "new" && f.check.startsWith("persisted configuration"))!;
    expect(found.status).toBe("drift");
    expect(found.actual).toMatch(
      /runtime and persisted configuration differ: its network configuration \(ifupdown: .*\) does not bring up the service address at boot/,
    );
    expect((await runPhase(current(), 5, { yes: true, progress })).status).toBe("done");
    expect(await hostFile("new", "/etc/network/interfaces.d/cutover-gateway")).toContain(`address ${address}/24`);
  }, 300_000);

  it("after a rollback, reboots of both keep the legacy gateway the holder, its own configuration as it was", async () => {
    expect((await runRollback(current(), { yes: true, progress })).status).toBe("done");
    const legacyGreeting = await greeting();
    expect(await hostFile("new", "/etc/network/interfaces.d/cutover-gateway")).toBe("");
    expect(await hostFile("legacy", "/etc/network/interfaces")).not.toContain("#cutover-released#");
    await rebootHost("new", progress);
    await rebootHost("legacy", progress);
    expect(await arpAnswerers(lab.description)).toEqual(["legacy"]);
    expect(await greeting()).toBe(legacyGreeting);
  }, 300_000);
});
