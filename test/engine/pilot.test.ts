/**
 * The pilot stack under the real Pulumi engine (built by the project, see engine/) against the lab:
 * every verb an administrator uses, asserted on the lab itself rather than on the engine's word.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setSshd } from "../../lab/lab";
import { openLabStack, removeLabStack } from "../../lab/lab-stack";
import { askStsResolver } from "../../lab/mta-sts";
import { findInMailbox, newMarker, sendMail, waitFor } from "../../src/checks/mail";
import { postfixFingerprint } from "../../src/checks/tls";
import { verifyPhase } from "../../src/checks/verify";
import type { HostRole, Phase } from "../../src/model/inventory";
import { type Plan, plan } from "../../src/model/plan";
import { routingDigest } from "../../src/model/routing";
import { type Engine, obtainEngine } from "../../src/ops/engine";
import { changedSteps, LOCAL_BACKEND_DIR, type MigrationStack } from "../../src/ops/stack";
import { verifyDeployed } from "../../src/ops/verification";
import { readIdentity } from "../../src/remote/effects/identity";
import { ROUTING_DIR, readRouting } from "../../src/remote/effects/routing";
import { readZone } from "../../src/remote/effects/zone";
import { SessionPool } from "../../src/remote/ssh";
import { digValues, testLab } from "../lab/env";
import { progress } from "./phase-4-stack";
import { pulumiCli } from "./pulumi-cli";

const lab = testLab();
let pool = new SessionPool();
const session = (role: HostRole) => pool.session(lab.target(role));
const tsigTarget = (zone: string) => ({ zone, server: "127.0.0.1", tsig: lab.description.tsig });
const HOSTS: HostRole[] = ["legacy", "new", "internet"];
const ZONES = ["aegean.test", "api.test", "paradigms.test"];
const upSeconds: Record<string, number> = {};

let engine: Engine;
let stack: MigrationStack;
let before: string;
const zonesBefore = new Map<string, unknown>();

/** What destroy must give back: each host's main.cf, names, addresses and the zones' records. */
async function hostSnapshot(): Promise<string> {
  const parts: string[] = [];
  for (const role of HOSTS) {
    const s = await session(role);
    const id = await readIdentity(s, {
      address: lab.description.serviceAddress,
      prefixLength: 24,
      interface: lab.description.hosts[role]!.interface,
    });
    parts.push(
      `${role} ${JSON.stringify(id)} ${(await s.exec(["postconf", "-n"])).stdout} cutover-dir:${(await s.exec(["test", "-e", ROUTING_DIR], { allowFailure: true })).code}`,
    );
  }
  const dns = await session("internet");
  for (const z of ZONES) parts.push(JSON.stringify(await readZone(dns, tsigTarget(z))));
  return parts.join("\n");
}

async function upTo(phase: Phase) {
  await stack.setPhase(phase);
  const r = await stack.up({ message: `phase ${phase}` });
  upSeconds[`phase ${phase}`] = r.seconds;
  return r;
}

/** The lab shows the plan: dig answers its records, the hosts route by its tables, the holder has the address. */
async function expectLabToShow(p: Plan) {
  for (const z of p.zones)
    for (const r of z.records) {
      const answer = await lab.inHost("new", ["dig", "+short", r.type, r.name]);
      expect(digValues(answer, r.type), `${r.name} ${r.type} in phase ${p.phase}`).toEqual(r.values);
    }
  for (const t of p.routing)
    expect((await readRouting(await session(t.host))).digest, `routing on ${t.host} in phase ${p.phase}`).toBe(routingDigest(t));
  for (const role of ["legacy", "new"] as const) {
    const id = await readIdentity(await session(role), {
      address: lab.description.serviceAddress,
      prefixLength: 24,
      interface: lab.description.hosts[role]!.interface,
    });
    expect(id.holdsServiceAddress, `${role} holds the service address in phase ${p.phase}`).toBe(role === p.gateway.holder);
    expect(id.hostName).toBe(p.hosts.find((h) => h.role === role)!.name);
  }
  // From outside, the gateway's name is verified over STARTTLS: by the lab CA and the name (secure),
  // and by the keys its TLSA record publishes (fingerprint, as DANE-EE matches), before and after the go-live.
  if (p.phase >= 2) {
    const tlsa = p.zones.flatMap((z) => z.records).find((r) => r.name === `_25._tcp.${p.gateway.hostName}`)!;
    for (const level of [
      ["-l", "secure", "-F", lab.description.tls!.caFile, `[${p.gateway.address}]:25`, p.gateway.hostName],
      ["-l", "fingerprint", "-d", "sha256", `[${p.gateway.address}]:25`, ...tlsa.values.map((v) => postfixFingerprint(v.split(" ")[3]))],
    ])
      expect(await lab.inHost("internet", ["posttls-finger", "-c", ...level]), `${level[1]} in phase ${p.phase}`).toMatch(
        /Verified TLS connection established/,
      );
    // The outside sender that enforces MTA-STS found each domain's policy, over HTTPS, with the phase's MX names.
    for (const policy of p.mtaSts!.policies)
      expect(await askStsResolver(lab.description.hosts.internet!, policy.domain), `MTA-STS of ${policy.domain} in phase ${p.phase}`).toBe(
        `secure match=${policy.mx.join(":")} servername=hostname`,
      );
  }
}

async function delivered(to: string, home: HostRole) {
  const marker = newMarker();
  await sendMail(await session("internet"), { from: "spyros@aegean.test", to, marker });
  return waitFor(
    () => session(home).then((s) => findInMailbox(s, to, marker)),
    (f) => f.length > 0,
  );
}

beforeAll(async () => {
  engine = await obtainEngine();
  before = await hostSnapshot();
  for (const z of ZONES) zonesBefore.set(z, await readZone(await session("internet"), tsigTarget(z)));
  stack = await openLabStack(`lab-engine-${randomBytes(3).toString("hex")}`, lab.description, engine);
}, 120_000);

afterAll(async () => {
  await setSshd("new", true);
  if (stack) await removeLabStack(stack).catch(() => undefined);
  await pool.closeAll();
  process.stderr.write(`engine test: up seconds ${JSON.stringify(upSeconds)}\n`);
});

describe("the pilot stack under the real engine", () => {
  it("goes through phases 1 to 5 in order, and the lab shows each phase's plan", async () => {
    for (const phase of [1, 2, 3, 4, 5] as Phase[]) {
      const r = await upTo(phase);
      expect(r.diagnostics.filter((d) => /error/i.test(d))).toEqual([]);
      await expectLabToShow(plan(lab.inventory(phase), phase));
    }
    // Phase 4 dropped the pilot zone: it holds again what it held before the stack, the model is shut down.
    expect(await readZone(await session("internet"), tsigTarget("api.test"))).toEqual(zonesBefore.get("api.test"));
  }, 300_000);

  it("previews 5 to 4 and 4 to 5 as a change of the gateway identity only", async () => {
    await stack.setPhase(4);
    const back = await stack.preview();
    expect(changedSteps(back).map((s) => `${s.op} ${s.name}`)).toEqual(["update gateway-identity-address"]);
    expect(changedSteps(back)[0].inputs.holder).toBe("legacy");
    await upTo(4);
    await stack.setPhase(5);
    const forth = await stack.preview();
    expect(changedSteps(forth).map((s) => `${s.op} ${s.name}`)).toEqual(["update gateway-identity-address"]);
    expect(changedSteps(forth)[0].inputs.holder).toBe("new");
    await upTo(5);
    await expectLabToShow(plan(lab.inventory(5), 5));
  }, 180_000);

  it("verifies a go-live only where it happened: each phase's mail from outside must have entered at its planned holder", async () => {
    // Phases 4 and 5 differ only in who holds the gateway identity, and either way every message
    // from outside reaches its mailbox (the other system split-delivers it): only the host that took
    // it in tells a go-live that happened from one that did not.
    const fromOutside = (v: Awaited<ReturnType<typeof verifyPhase>>) =>
      v.flows.filter((f) => f.flow.from === "outside" && f.flow.entry !== "internet");
    for (const [live, claimed, answered] of [
      [5, 4, "new"],
      [4, 5, "legacy"],
    ] as const) {
      if (live === 4) await upTo(4);
      const right = await verifyPhase(plan(lab.inventory(live), live), { session });
      expect(right.flows.filter((f) => !f.passed).map((f) => f.detail)).toEqual([]);
      const wrong = await verifyPhase(plan(lab.inventory(claimed), claimed), { session });
      expect(wrong.passed, `phase ${claimed} verified while phase ${live} is live`).toBe(false);
      expect(fromOutside(wrong).length).toBeGreaterThan(0);
      for (const f of fromOutside(wrong)) {
        expect(f.passed).toBe(false);
        expect(f.detail).toContain(`it entered at ${answered} (`);
      }
      expect(wrong.flows.filter((f) => !f.passed && !fromOutside(wrong).includes(f))).toEqual([]);
    }
    await upTo(5);
    await expectLabToShow(plan(lab.inventory(5), 5));
    // The stack says phase 5, but the address went back to the legacy gateway by hand: not verified,
    // naming the host that answered.
    expect((await verifyDeployed(stack, progress)).status).toBe("done");
    await lab.moveAddressByHand("new", "legacy");
    try {
      const v = await verifyDeployed(stack, progress);
      expect(v).toMatchObject({ phase: 5, status: "verification-failed" });
      // No message from outside passes (the legacy gateway, drained since the go-live, defers them with 421 at DATA).
      expect(fromOutside(v.verification!).filter((f) => f.passed)).toEqual([]);
      expect(v.verification!.relays.find((x) => x.server === lab.description.serviceAddress)?.detail).toMatch(
        /answered by legacy \(\S+\), not by new \(/,
      );
    } finally {
      await lab.moveAddressByHand("legacy", "new");
    }
  }, 240_000);

  it("reports no change for a second up and touches no host", async () => {
    const stamps = async () => {
      const out: string[] = [];
      for (const role of HOSTS)
        out.push(
          (await (await session(role)).exec(["stat", "-L", "-c", "%n %Y", "/etc/postfix/main.cf", `${ROUTING_DIR}/current`])).stdout,
        );
      out.push((await lab.inHost("new", ["dig", "+short", "SOA", "paradigms.test"])).trim());
      return out.join("");
    };
    const was = await stamps();
    const r = await upTo(5);
    expect(changedSteps(r)).toEqual([]);
    expect(Object.keys(r.changes)).toEqual(["same"]);
    expect(await stamps()).toBe(was);
  }, 120_000);

  it("sees a routing map edited by hand: refresh reports it, preview expecting no changes fails, up repairs it", async () => {
    const legacy = await session("legacy");
    await legacy.exec([
      "sed",
      "-i",
      "s/^user4@paradigms.test .*/user4@paradigms.test smtp:[192.0.2.99]:25/",
      `${ROUTING_DIR}/current/transport`,
    ]);
    await legacy.exec(["postmap", `hash:${ROUTING_DIR}/current/transport`]);

    const refreshed = await stack.refresh();
    expect(refreshed.changes.update).toBe(1);
    await expect(stack.preview({ expectNoChanges: true })).rejects.toThrow(/no changes were expected/i);
    const repaired = await upTo(5);
    expect(changedSteps(repaired).map((s) => `${s.op} ${s.name}`)).toEqual(["update legacy-routing"]);
    expect((await readRouting(legacy)).digest).toBe(routingDigest(plan(lab.inventory(5), 5).routing.find((t) => t.host === "legacy")!));
  }, 120_000);

  it("fails an up naming the unreachable host, keeps the previous routing working, and completes the next up", async () => {
    await setSshd("new", false);
    await stack.setPhase(4);
    await expect(stack.up()).rejects.toThrow(/cannot reach new at 198\.51\.100\.20:22/);
    // Nothing was half-moved: the new server still holds the gateway, mail still lands where it lives.
    expect((await delivered("user4@paradigms.test", "new")).length).toBe(1);
    expect((await delivered("user1@paradigms.test", "legacy")).length).toBe(1);
    await setSshd("new", true);
    // Sessions opened before the restart live on in the old sshd's processes: start afresh.
    await pool.closeAll();
    pool = new SessionPool();
    await upTo(4);
    await expectLabToShow(plan(lab.inventory(4), 4));
  }, 180_000);

  it("runs as a user runs it by hand: pulumi up --stack NAME --yes with the CLI alone", async () => {
    const { code, out } = await pulumiCli(engine, [
      "up",
      "--stack",
      stack.name,
      "--yes",
      "--non-interactive",
      "--config",
      "cutover:phase=5",
    ]);
    expect(code, out).toBe(0);
    expect(out).toMatch(/gateway-identity-address/);
    await expectLabToShow(plan(lab.inventory(5), 5));
  }, 120_000);

  it("keeps the SSH key, the TSIG secret and the gateway chain's key out of the checkpoint and the engine's logs of refresh and up at the highest safe log level", async () => {
    const key = readFileSync(lab.description.adminKeyPath, "utf8");
    const keyBody = key.split("\n").filter((l) => l && !l.startsWith("-----"))[1];
    const exported = await stack.exportCheckpoint();
    const stored = readFileSync(join(LOCAL_BACKEND_DIR, ".pulumi", "stacks", "cutover", `${stack.name}.json`), "utf8");
    const logged = await stack.refresh({ previewOnly: true, verboseLog: true });
    // An up that reads every host first: Read and Diff calls carry the secrets to the providers.
    const upLogged = await stack.up({ refresh: true, verboseLog: true });
    expect(upLogged.log?.length ?? 0).toBeGreaterThan(1000);
    // The new server's chain is a stack secret too (cutover:gatewayTls.new): its private key first.
    const chain = readFileSync(lab.description.tls!.new.chainFile, "utf8");
    const chainKeyBody = chain.slice(chain.indexOf("PRIVATE KEY-----")).split("\n")[1];
    expect(chainKeyBody).toMatch(/^[A-Za-z0-9+/=]{40,}$/);
    for (const text of [exported, stored, logged.log ?? "", upLogged.log ?? ""]) {
      expect(text).not.toContain(keyBody);
      expect(text).not.toContain(lab.description.tsig.secret);
      expect(text).not.toContain(chainKeyBody);
    }
    expect(logged.log?.length ?? 0).toBeGreaterThan(1000);
    // They are there, encrypted: the engine can still reach the hosts on refresh and destroy.
    expect(exported).toMatch(/"privateKey": \{\s*"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",\s*"ciphertext"/);
  }, 120_000);

  it("destroy gives every lab host back its state from before the stack", async () => {
    await stack.destroy();
    expect((await hostSnapshot()).split("\n")).toEqual(before.split("\n"));
    // The history a rollback reads: every update with the configuration it ran with, newest first.
    const history = await stack.history();
    const summary = history.map((h) => `${h.kind} ${h.result} ${h.config["cutover:phase"]?.value ?? "-"}`);
    expect(summary[0]).toBe("destroy succeeded 5");
    expect(summary, summary.join("\n")).toContain("update failed 4");
    expect(summary.slice(-5).reverse()).toEqual([
      "update succeeded 1",
      "update succeeded 2",
      "update succeeded 3",
      "update succeeded 4",
      "update succeeded 5",
    ]);
  }, 120_000);
});
