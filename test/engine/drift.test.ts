/**
 * The drift check on the lab, against a stack brought to phase 4 by the engine: for each kind of
 * drift, made by hand the way an administrator would, the report names exactly that finding and the
 * exit code is right; a clean lab is exit 0. Each case puts the lab back before the next.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parentOf, registrarChange } from "../../lab/daemons";
import { setSshd } from "../../lab/lab";
import { labMailboxFile } from "../../lab/lab-stack";
import { keysDir } from "../../lab/layout";
import { askStsResolver, restartStsResolver } from "../../lab/mta-sts";
import { startDaemon } from "../../lab/namespaces";
import { queryRecord } from "../../src/checks/dns-query";
import { checkDrift, type DriftReport, renderDriftTable } from "../../src/checks/drift";
import { waitFor } from "../../src/checks/mail";
import { plannedAddresses, plannedRoutes } from "../../src/checks/routes";
import { publishedTlsa } from "../../src/checks/tls";
import { verifyPhase } from "../../src/checks/verify";
import type { HostRole } from "../../src/model/inventory";
import { recordSetKey } from "../../src/model/records";
import { hostRouting } from "../../src/model/routing";
import { loadStack, STACKS_DIR, stackPlan } from "../../src/model/stack-file";
import { stackDrift } from "../../src/ops/drift";
import { describeSteps } from "../../src/ops/outcome";
import { runPhase } from "../../src/ops/phase";
import { enginePreview } from "../../src/ops/preview";
import type { OperationResult } from "../../src/ops/stack";
import { verifyDeployed } from "../../src/ops/verification";
import { closeAndResetCommand, readIdentity, undrainCommand } from "../../src/remote/effects/identity";
import { policyPath } from "../../src/remote/effects/mta-sts";
import { applyRouting, POSTFIX_RELOAD, ROUTING_DIR, SECRET_CHAIN } from "../../src/remote/effects/routing";
import { applyZone, type ZoneTarget } from "../../src/remote/effects/zone";
import { execSequence, SessionPool } from "../../src/remote/ssh";
import { testLab } from "../lab/env";
import { labStackAtPhase4, progress } from "./phase-4-stack";

const lab = testLab();
const current = labStackAtPhase4(lab, "lab-drift");
let pool = new SessionPool();
const session = (role: HostRole) => pool.session(lab.target(role));
const p4 = () => stackPlan(current().name, 4);
const zoneTarget = (zone: string): ZoneTarget => ({ zone, server: "127.0.0.1", tsig: lab.description.tsig });
const service = lab.description.serviceAddress;
/** The zones that publish a TLSA record: their delegation decides whether DANE senders use it. */
const daneZones = () =>
  p4()
    .zones.filter((z) => z.records.some((r) => r.type === "TLSA"))
    .map((z) => z.name);
/** The zone of the gateway's name, whose TLSA record DANE senders check at the gateway address. */
const gatewayZone = () => daneZones().find((z) => p4().gateway.hostName.endsWith(`.${z}`))!;
/** The lab's DNS server's namespace, where its parents' registrar changes are made. */
const dnsNamespace = () => Object.values(lab.description.hosts).find((h) => h?.address === lab.description.dnsServer)!.namespace;

/** Runs `fn` with the zone's DS records at its parent replaced by `ds` (none: removed), then puts the originals back. */
async function withParentDs(zone: string, ds: string[], fn: () => Promise<void>) {
  const asked = async () => (await queryRecord(lab.description.dnsServer, zone, "DS")).values;
  const replace = async (values: string[]) =>
    registrarChange(dnsNamespace(), parentOf(zone), [
      ...((await asked()).length ? [["zone-unset", `${zone}.`, "DS"]] : []),
      ...values.map((v) => ["zone-set", `${zone}.`, "300", "DS", ...v.split(" ")]),
    ]);
  const original = await asked();
  expect(original.length).toBeGreaterThan(0);
  await replace(ds);
  try {
    // The fault struck: the parent answers what the test set.
    expect(await asked()).toEqual([...ds].sort());
    await fn();
  } finally {
    await replace(original);
  }
}

/**
 * One of the project's commands as an operator runs it: from a root shell in the machine's own
 * network namespace (the tests run in the lab's operator namespace), so it finds the lab itself.
 */
const script = (args: string[]) => {
  const { CUTOVER_IN_LAB: _, ...env } = process.env;
  const netns = (of: number) => readlinkSync(`/proc/${of}/ns/net`);
  // The nearest ancestor outside the operator namespace (npm test's own process) holds the machine's namespace.
  let pid = process.pid;
  while (pid > 1 && netns(pid) === netns(process.pid)) pid = Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")[1]);
  return spawnSync("nsenter", [`--net=/proc/${pid}/ns/net`, process.execPath, require.resolve("tsx/cli"), ...args], {
    encoding: "utf8",
    env,
  });
};

/** The changing steps of a preview as "resource property", one per changed property. */
const entries = (r: OperationResult) =>
  [
    ...new Set(
      r.steps
        .filter((st) => (st.op === "refresh" ? st.refreshChanged : !["same", "read"].includes(st.op)))
        .flatMap((st) => (st.changes.length ? st.changes.map((c) => `${st.name} ${c.path}`) : [`${st.name} (no property named)`])),
    ),
  ].sort();

/** What the engine's preview, after reading the live hosts, would change. */
const previewEntries = async () => entries(await current().preview({ refresh: true }));

/** The findings that are not ok, as "status area subject check". */
const notOk = (r: DriftReport) =>
  r.findings
    .filter((f) => f.status !== "ok")
    .map((f) => `${f.status} ${f.area} ${f.subject} ${f.check}`)
    .sort();

describe("drift check on the lab", () => {
  it("finds a clean lab clean: exit 0, every area checked", async () => {
    const r = await stackDrift(current(), { flows: true });
    expect(notOk(r)).toEqual([]);
    expect(r.exitCode).toBe(0);
    expect(new Set(r.findings.map((f) => f.area))).toEqual(new Set(["engine", "dns", "host", "smtp", "flow"]));
    // Every mail flow of the plan was sent and arrived; each host's postfix is as its last update left it.
    expect(r.findings.filter((f) => f.area === "flow" && f.check === "delivered as planned")).toHaveLength(p4().flows.length);
    expect(r.findings.filter((f) => f.check === "postfix since the last update").map((f) => `${f.subject} ${f.status}`)).toEqual(
      p4().routing.map((t) => `${t.host} ok`),
    );
    // Every address's route on each routed host, read from its live tables, as planned.
    expect(r.findings.filter((f) => f.check === "every user's route").map((f) => `${f.subject} ${f.status} ${f.actual}`)).toEqual(
      p4().routing.map((t) => `${t.host} ok ${plannedRoutes(t, plannedAddresses(p4())).size} addresses routed as planned`),
    );
    expect(r.findings.filter((f) => f.area === "dns").length).toBeGreaterThanOrEqual(p4().zones.reduce((n, z) => n + z.records.length, 0));
    // The TLS identity: at the gateway address and at each gateway serving it (both in phase 4), key, name and expiry.
    const tlsChecked = (check: string) => r.findings.filter((f) => f.check === check && f.status === "ok").map((f) => f.subject);
    const served = [service, lab.description.hosts.legacy!.address, lab.description.hosts.new!.address].map((a) => `${a}:25`);
    for (const check of ["TLS key", "TLS key published", "TLS name", "TLS expiry"]) expect(tlsChecked(check), check).toEqual(served);
    // Each TLSA record came signed (the lab's Knot signs every zone): a DANE sender uses it.
    const tlsa = p4().zones.flatMap((z) => z.records.filter((rec) => rec.type === "TLSA"));
    const signatures = r.findings.filter((f) => f.check.endsWith("TLSA signature"));
    expect(tlsa.length).toBeGreaterThan(0);
    expect(signatures.map((f) => f.status)).toEqual(tlsa.map(() => "ok"));
    // Each zone publishing a TLSA record is delegated with a DS matching its key: validating resolvers reach it.
    expect(r.findings.filter((f) => f.check === "DS at the parent").map((f) => `${f.subject} ${f.status}`)).toEqual(
      daneZones().map((z) => `${z} ok`),
    );
    // Each domain's MTA-STS policy, fetched over HTTPS as a sender fetches it: as planned, naming the MX.
    const policies = p4().mtaSts!.policies.map((x) => `https://mta-sts.${x.domain}/.well-known/mta-sts.txt`);
    expect(policies.length).toBeGreaterThan(0);
    for (const check of ["MTA-STS policy", "MTA-STS mx covers the MX"])
      expect(
        r.findings.filter((f) => f.check === check && f.status === "ok").map((f) => f.subject),
        check,
      ).toEqual(policies);
  }, 120_000);

  it("an MTA-STS policy edited by hand on the web server: its mx misses the MX, named; the engine's refresh names the file; exit 1", async () => {
    const sts = p4().mtaSts!;
    const [policy] = sts.policies;
    const file = policyPath(sts.directory, policy.domain);
    const web = await session(sts.policyHost);
    await web.writeFile(file, policy.text.replace(/^mx: .*$/m, "mx: mail.elsewhere.test"), 0o644);
    try {
      const r = await stackDrift(current());
      const url = `https://mta-sts.${policy.domain}/.well-known/mta-sts.txt`;
      expect(notOk(r)).toEqual(
        [`drift smtp ${url} MTA-STS policy`, `drift smtp ${url} MTA-STS mx covers the MX`, "drift engine mta-sts-policies refresh"].sort(),
      );
      expect(r.findings.find((f) => f.check === "MTA-STS mx covers the MX")?.actual).toBe(
        `mx mail.elsewhere.test misses ${policy.mx.join(", ")}: enforcing senders defer the mail of ${policy.domain}`,
      );
      expect(r.exitCode).toBe(1);
    } finally {
      await web.writeFile(file, policy.text, 0o644);
    }
    expect(notOk(await stackDrift(current(), { skipEngine: true }))).toEqual([]);
  }, 120_000);

  it("an enforcing sender that finds no MTA-STS policy (the policy file gone, its resolver fresh): its mail still arrives by DANE, and the flow fails naming MTA-STS", async () => {
    const sts = p4().mtaSts!;
    const [policy] = sts.policies;
    const file = policyPath(sts.directory, policy.domain);
    const web = await session(sts.policyHost);
    const outside = lab.description.hosts.internet!;
    await web.exec(["rm", "-f", file]);
    try {
      await restartStsResolver(outside, lab.description.tls!.caFile);
      // The fault struck: the sender's resolver has no policy for the domain.
      expect(await askStsResolver(outside, policy.domain)).toBe("");
      const r = await stackDrift(current(), { flows: true, skipEngine: true });
      const enforcing = r.findings.filter((f) => f.area === "flow" && f.subject.includes("enforcing MTA-STS"));
      const failed = enforcing.find((f) => f.status !== "ok" && f.subject.endsWith(`@${policy.domain}`));
      const url = `https://mta-sts.${policy.domain}/.well-known/mta-sts.txt`;
      // The flow is drift; the policy a sender can no longer fetch could not be checked (a 404 is no verdict).
      expect(notOk(r)).toEqual([`drift flow ${failed?.subject} delivered as planned`, `unreachable smtp ${url} MTA-STS policy`].sort());
      expect(failed?.actual).toContain(`but the sender applied no MTA-STS policy for ${policy.domain}`);
      // The message itself arrived where planned: only the policy is missing.
      expect(failed?.actual).toMatch(/: in \w+'s mailbox, but /);
      expect(enforcing.length).toBe(sts.policies.filter((x) => x.mode === "enforce").length);
      expect(r.exitCode).toBe(2);
    } finally {
      await web.writeFile(file, policy.text, 0o644);
    }
    expect(await askStsResolver(outside, policy.domain)).toBe(`secure match=${policy.mx.join(":")} servername=hostname`);
  }, 120_000);

  it("the gateway zone's DS removed at its parent: DANE silently off, named with the DS to publish; the verification's TLS checks fail (no AD); exit 1", async () => {
    const zone = gatewayZone();
    await withParentDs(zone, [], async () => {
      const r = await stackDrift(current(), { flows: true, skipEngine: true });
      const tlsChecks = r.findings.filter((f) => f.check === "presents a published TLS key");
      expect(notOk(r)).toEqual(
        [`drift dns ${zone} DS at the parent`, ...tlsChecks.map((f) => `drift flow ${f.subject} presents a published TLS key`)].sort(),
      );
      expect(tlsChecks.length).toBe(3);
      expect(r.findings.find((f) => f.check === "DS at the parent" && f.subject === zone)?.actual).toMatch(
        new RegExp(
          `^signed, but the parent publishes no DS record: validating resolvers treat ${zone} as unsigned, so DANE is silently off; publish \\d+ 13 2 [0-9a-f]{64} at the registrar$`,
        ),
      );
      for (const t of tlsChecks) expect(t.actual).toContain("is not validated by the sending host's resolver (no AD bit)");
      expect(r.exitCode).toBe(1);
    });
    expect(notOk(await stackDrift(current(), { skipEngine: true }))).toEqual([]);
  }, 180_000);

  it("a wrong DS at the gateway zone's parent: the zone is bogus, named; the sending host's resolver fails it (BOGUS, not a resolver down); exit 1", async () => {
    const zone = gatewayZone();
    const wrong = `${(await queryRecord(lab.description.dnsServer, zone, "DS")).values[0].split(" ").slice(0, 3).join(" ")} ${"0".repeat(64)}`;
    await withParentDs(zone, [wrong], async () => {
      const r = await stackDrift(current(), { skipEngine: true });
      expect(notOk(r)).toEqual([`drift dns ${zone} DS at the parent`]);
      expect(r.findings.find((f) => f.check === "DS at the parent")?.actual).toMatch(
        new RegExp(
          `^the parent's DS \\(key tag \\d+\\) matches none of the zone's key-signing keys \\(tag \\d+\\): validating resolvers fail ${zone} \\(SERVFAIL\\) and every DANE sender defers its mail`,
        ),
      );
      expect(r.exitCode).toBe(1);
      // What the verification's TLS check and the go-live pre-flight read: a validation failure.
      expect(await publishedTlsa(await session("internet"), p4().gateway.hostName)).toMatchObject({ status: "BOGUS", validated: false });
    });
    // Put back, the resolver validates the zone again once the bad key it holds has expired: unbound
    // keeps a key it found bogus for 60 s whatever val-bogus-ttl says (measured: 61 s), as real
    // resolvers do after a registrar's fix.
    const back = await waitFor(
      async () => publishedTlsa(await session("internet"), p4().gateway.hostName),
      (t) => t.validated,
      120_000,
      2_000,
    );
    expect(back).toMatchObject({ status: "NOERROR", validated: true });
  }, 240_000);

  it("the new server's chain replaced by hand with another key: its key no longer matches its TLSA record; a certificate nearer its end than the warning is named; exit 1", async () => {
    const neu = await session("new");
    const tls = lab.description.tls!;
    await neu.writeFile(SECRET_CHAIN, readFileSync(join(keysDir, "legacy-gateway.pem"), "utf8"), 0o600);
    await execSequence(neu, [POSTFIX_RELOAD]);
    try {
      const r = await stackDrift(current(), { skipEngine: true });
      expect(notOk(r)).toEqual([`drift smtp ${lab.description.hosts.new!.address}:25 TLS key`]);
      expect(r.findings.find((f) => f.check === "TLS key" && f.status === "drift")).toMatchObject({
        expected: `the key new's (${tls.new.spki.slice(0, 16)}...)`,
        actual: `${tls.legacy.spki.slice(0, 16)}...`,
      });
      expect(r.exitCode).toBe(1);
    } finally {
      await neu.writeFile(SECRET_CHAIN, readFileSync(tls.new.chainFile, "utf8"), 0o600);
      await execSequence(neu, [POSTFIX_RELOAD]);
    }
    // The lab's certificates have at most 90 days: with a warning at 100 days, each one served is named.
    const inventory = loadStack(current().name, 4).inventory;
    const warned = await checkDrift({
      stack: current().name,
      plan: p4(),
      inventory: { ...inventory, gateway: { ...inventory.gateway, tls: { ...inventory.gateway.tls!, expiryWarningDays: 100 } } },
    });
    expect(warned.findings.filter((f) => f.check === "TLS expiry" && f.status === "drift")).toHaveLength(3);
    expect(warned.findings.find((f) => f.check === "TLS expiry")?.actual).toMatch(/^\d\d? days left \(until \d{4}-\d\d-\d\d\)$/);
  }, 120_000);

  it("the command: exit 0, JSON on stdout, Markdown summary written", () => {
    const r = spawnSync(
      process.execPath,
      [
        require.resolve("tsx/cli"),
        "scripts/drift.ts",
        current().name,
        "--json",
        "--skip-engine",
        "--markdown",
        "/tmp/cutover-drift-summary.md",
      ],
      { encoding: "utf8", env: process.env },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ stack: current().name, phase: 4, exitCode: 0 });
    expect(r.stderr).toContain(`clean: stack ${current().name} (phase 4)`);
  }, 120_000);

  it("a record changed by hand: the authoritative answer and the engine's refresh name it; exit 1", async () => {
    const zone = p4().zones.find((z) => z.name === "paradigms.test")!;
    const edited = zone.records.map((r) => (r.name === "mail.paradigms.test" && r.type === "A" ? { ...r, values: ["198.51.100.99"] } : r));
    await applyZone(await session("internet"), zoneTarget(zone.name), edited);
    try {
      const r = await stackDrift(current());
      expect(notOk(r)).toEqual([
        `drift dns paradigms.test @${lab.description.hosts.internet!.address} mail.paradigms.test A`,
        "drift engine zone-paradigms-test-records refresh",
      ]);
      expect(r.findings.find((f) => f.check === "mail.paradigms.test A")).toMatchObject({
        expected: `300 ${service}`,
        actual: "300 198.51.100.99",
      });
      expect(r.exitCode).toBe(1);
    } finally {
      await applyZone(await session("internet"), zoneTarget(zone.name), zone.records);
    }
  }, 120_000);

  it("a record added by hand: listed as unmanaged, a note and not drift (the zone is shared); exit 0", async () => {
    const intruder = { zone: "paradigms.test", name: "intruder.paradigms.test", type: "A" as const, ttl: 300, values: ["203.0.113.7"] };
    await applyZone(await session("internet"), zoneTarget("paradigms.test"), [intruder]);
    try {
      const r = await stackDrift(current(), { skipEngine: true });
      expect(notOk(r)).toEqual(["note dns paradigms.test intruder.paradigms.test A"]);
      expect(r.findings.find((f) => f.check === "intruder.paradigms.test A")?.actual).toBe("unmanaged: 300 203.0.113.7");
      expect(r.exitCode).toBe(0);
      expect(renderDriftTable(r)).toMatch(/^NOTE\s+dns\s+paradigms\.test\s+intruder\.paradigms\.test A/m);
    } finally {
      await applyZone(await session("internet"), zoneTarget("paradigms.test"), [], [intruder]);
    }
  }, 120_000);

  it("a map entry changed on a host: the routing digest differs and the entry is named; exit 1", async () => {
    const legacy = await session("legacy");
    await execSequence(legacy, [
      ["sh", "-c", `cd ${ROUTING_DIR}/current && grep -v '^user1@paradigms.test' mailboxes > m && mv m mailboxes && postmap mailboxes`],
    ]);
    try {
      const r = await stackDrift(current(), { skipEngine: true });
      expect(notOk(r)).toEqual(["drift host legacy every user's route", "drift host legacy routing"]);
      expect(r.findings.find((f) => f.check === "routing" && f.subject === "legacy")?.actual).toContain(
        "mailboxes missing: user1@paradigms.test",
      );
      // The route check asks the host's postfix itself: it no longer accepts user1, and names only that user.
      expect(r.findings.find((f) => f.check === "every user's route" && f.subject === "legacy")).toMatchObject({
        actual: "user1@paradigms.test on legacy: not accepted; planned: local",
        severity: "mail flow",
      });
      expect(r.exitCode).toBe(1);
      // The verification, which sends no message for this, fails naming the same user.
      const v = await verifyDeployed(current(), progress);
      expect(v.status).toBe("verification-failed");
      expect(v.verification!.routes!.find((x) => x.host === "legacy")!.differing).toEqual([
        "user1@paradigms.test on legacy: not accepted; planned: local",
      ]);
    } finally {
      await applyRouting(legacy, hostRouting(p4().routing.find((t) => t.host === "legacy")!));
    }
  }, 120_000);

  it("the service address moved by hand: both hosts and the gateway's greeting show it; exit 1", async () => {
    const [legacy, neu] = [await session("legacy"), await session("new")];
    const dev = (role: HostRole) => lab.description.hosts[role]!.interface;
    await legacy.exec(["ip", "addr", "del", `${service}/24`, "dev", dev("legacy")]);
    await neu.exec(["sh", "-c", 'ip addr add "$1" dev "$2" && arping -q -U -c 2 -I "$2" "$3"', "sh", `${service}/24`, dev("new"), service]);
    try {
      const r = await waitFor(
        () => stackDrift(current(), { skipEngine: true }),
        (x) => notOk(x).length >= 4,
        10_000,
        500,
      );
      expect(notOk(r)).toEqual([
        `drift host legacy holds ${service}`,
        `drift host new holds ${service}`,
        `drift smtp ${service}:25 answering server`,
        `drift smtp ${service}:25 banner`,
      ]);
      expect(r.exitCode).toBe(1);
      // A rollback that left the address on the new server is no rollback: every message from outside
      // still reaches its mailbox (split delivery), but the verification names the host that took it.
      const v = await verifyDeployed(current(), progress);
      expect(v).toMatchObject({ phase: 4, status: "verification-failed" });
      const fromOutside = v.verification!.flows.filter((f) => f.flow.from === "outside" && f.flow.entry !== "internet");
      expect(fromOutside.length).toBeGreaterThan(0);
      for (const f of fromOutside) expect(f.detail).toMatch(/it entered at new \(\S+\), not at legacy \(/);
      expect(v.verification!.relays.find((x) => x.server === service)?.detail).toMatch(/answered by new \(\S+\), not by legacy \(/);
    } finally {
      await neu.exec(["ip", "addr", "del", `${service}/24`, "dev", dev("new")]);
      await legacy.exec([
        "sh",
        "-c",
        'ip addr add "$1" dev "$2" && arping -q -U -c 2 -I "$2" "$3"',
        "sh",
        `${service}/24`,
        dev("legacy"),
        service,
      ]);
    }
  }, 120_000);

  it("the TLSA record of the gateway name holding only the legacy key (edited by hand): the verification reads it as a sender's validating resolver does and fails the new server's key", async () => {
    const p = p4();
    const zone = p.zones.find((z) => z.records.some((r) => r.type === "TLSA" && r.name === `_25._tcp.${p.gateway.hostName}`))!;
    const legacyKey = p.routing.find((t) => t.host === "legacy")!.tls!.spki;
    const newKey = p.routing.find((t) => t.host === "new")!.tls!.spki;
    const edited = zone.records.map((r) =>
      r.type === "TLSA" && r.name === `_25._tcp.${p.gateway.hostName}`
        ? { ...r, values: r.values.filter((v) => v.endsWith(legacyKey)) }
        : r,
    );
    expect(edited.flatMap((r) => r.values).some((v) => v.endsWith(newKey))).toBe(false);
    await applyZone(await session("internet"), zoneTarget(zone.name), edited);
    try {
      // The drift check reads the record as the zone serves it: the record differs from the plan, and
      // the new server's key is in no published record.
      const tlsa = zone.records.find((r) => r.type === "TLSA" && r.name === `_25._tcp.${p.gateway.hostName}`)!;
      const drift = await stackDrift(current(), { skipEngine: true });
      expect(notOk(drift)).toEqual(
        [
          `drift dns ${zone.name} @${lab.description.dnsServer} ${recordSetKey(tlsa)}`,
          `drift smtp ${lab.description.hosts.new!.address}:25 TLS key published`,
        ].sort(),
      );
      const v = await verifyDeployed(current(), progress);
      expect(v.status).toBe("verification-failed");
      const failed = v.verification!.tls!.filter((t) => !t.passed);
      expect(failed.map((t) => `${t.server} ${t.verdict}`)).toEqual([`${lab.description.hosts.new!.address} mismatch`]);
      expect(failed[0].detail).toMatch(
        new RegExp(
          `its key ${newKey.slice(0, 16)}\\.\\.\\. is not in the TLSA record of ${p.gateway.hostName.replace(/\./g, "\\.")} as the resolver returns it`,
        ),
      );
      // And the go-live is refused before anything changes: DANE senders would defer every message.
      const live = await runPhase(current(), 5, { yes: true, progress });
      expect(live.status).toBe("refused");
      expect(live.refusals.filter((r) => r.guard === "go-live pre-flight").map((r) => r.message)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^the new server's key ${newKey.slice(0, 16)}\\.\\.\\. is not in the TLSA record of \\S+ as the outside host's validating resolver returns it \\(published: `,
          ),
        ),
      ]);
      expect((await current().history())[0].config["cutover:phase"].value).toBe("4");
    } finally {
      await applyZone(await session("internet"), zoneTarget(zone.name), zone.records);
    }
  }, 120_000);

  it("a release's guard left on the gateway that holds the address (new SMTP sessions dropped): the host check and the engine's refresh name it, and the phase run again removes it", async () => {
    const legacy = await session("legacy");
    await legacy.exec(closeAndResetCommand(service));
    try {
      const r = await stackDrift(current());
      // The gateway's address takes no new connection: its SMTP checks could not be made, and the host check says why.
      expect(notOk(r)).toEqual([
        "drift engine gateway-identity-address refresh",
        `drift host legacy new SMTP sessions to ${service}`,
        `unreachable smtp ${service}:25 TLS key`,
        `unreachable smtp ${service}:25 greeting`,
      ]);
      expect(r.findings.find((f) => f.subject === "legacy" && f.check.startsWith("new SMTP sessions"))?.actual).toMatch(
        /^dropped by a release's guard left in place .*run the phase again/,
      );
      expect(r.exitCode).toBe(2);
      const again = await runPhase(current(), 4, { yes: true, progress });
      expect(again.status).toBe("done");
      expect(await readIdentity(legacy, { ...p4().gateway.service, interface: lab.description.hosts.legacy!.interface })).toMatchObject({
        holdsServiceAddress: true,
        closedToNewSessions: false,
      });
      const after = await stackDrift(current(), { skipEngine: true });
      expect(notOk(after)).toEqual([]);
    } finally {
      await legacy.exec(undrainCommand(service));
    }
  }, 180_000);

  it("a relayhost set by hand on the new server: the routing names it, and the verification fails the outbound flows that missed the ISP's relay; exit 1", async () => {
    const neu = await session("new");
    const byHand = `[${lab.description.hosts.internet!.address}]:25`;
    await execSequence(neu, [["postconf", "-e", `relayhost=${byHand}`], POSTFIX_RELOAD]);
    try {
      const r = await stackDrift(current(), { skipEngine: true });
      expect(notOk(r)).toEqual(["drift host new main.cf relayhost", "drift host new routing"]);
      expect(r.findings.find((f) => f.check === "routing" && f.subject === "new")).toMatchObject({ severity: "mail flow" });
      expect(r.findings.find((f) => f.check === "routing" && f.subject === "new")?.actual).toContain(
        `relayhost = ${byHand}, planned [relay.isp.test]:2525`,
      );
      expect(r.findings.find((f) => f.check === "main.cf relayhost")).toMatchObject({
        severity: "mail flow",
        expected: "[relay.isp.test]:2525",
        actual: byHand,
      });
      expect(r.exitCode).toBe(1);
      // The preview names the one resource and the property: the routing's relayhost (and the baseline's, on refresh).
      expect(await previewEntries()).toEqual(['new-routing baseline["main.cf relayhost"]', "new-routing routing.relayHost"]);
      // With --flows, the verification's messages: only the new server's outbound ones fail, delivered but not through the relay.
      const flows = (await stackDrift(current(), { skipEngine: true, flows: true })).findings.filter((f) => f.area === "flow");
      expect(
        flows
          .filter((f) => f.status !== "ok")
          .map((f) => `${f.subject} ${f.severity}`)
          .sort(),
      ).toEqual(["new -> jillr@aegean.test mail flow", "new -> spyros@aegean.test mail flow"]);
      expect(flows.find((f) => f.status === "drift")!.actual).toMatch(
        /in internet's mailbox, but not through relay\.isp\.test: its Received path is "Received: from /,
      );
      expect(flows.filter((f) => f.subject.startsWith("legacy -> ")).length).toBeGreaterThan(0);
    } finally {
      // The new server's chain for the gateway name is the stack secret, as the engine passes it.
      await applyRouting(
        neu,
        hostRouting(p4().routing.find((t) => t.host === "new")!),
        undefined,
        readFileSync(lab.description.tls!.new.chainFile, "utf8"),
      );
    }
  }, 120_000);

  it("an MX added by hand at the zone apex (a hijack): the authoritative answer, and one record set in the engine's preview; exit 1", async () => {
    const zone = p4().zones.find((z) => z.name === "paradigms.test")!;
    const hijacked = zone.records.map((r) =>
      r.name === "paradigms.test" && r.type === "MX" ? { ...r, values: [...r.values, "5 mx.evil.test"] } : r,
    );
    await applyZone(await session("internet"), zoneTarget(zone.name), hijacked);
    try {
      const r = await stackDrift(current());
      expect(notOk(r)).toEqual([
        `drift dns paradigms.test @${lab.description.hosts.internet!.address} paradigms.test MX`,
        "drift engine zone-paradigms-test-records refresh",
      ]);
      expect(r.findings.find((f) => f.area === "engine")?.actual).toBe('changed on the live system: records["paradigms.test MX"]');
      expect(r.exitCode).toBe(1);
      const preview = await current().preview({ refresh: true });
      expect(entries(preview)).toEqual(['zone-paradigms-test-records records["paradigms.test MX"]']);
      // The update puts back the planned set: the hijacker's value is what it removes.
      const update = preview.steps.find((st) => st.op === "update")!;
      expect(update.changes).toEqual([
        {
          path: 'records["paradigms.test MX"]',
          removed: [JSON.stringify({ ttl: 300, values: ["10 mail.paradigms.test", "5 mx.evil.test"] })],
          added: [JSON.stringify({ ttl: 300, values: ["10 mail.paradigms.test"] })],
        },
      ]);
    } finally {
      await applyZone(await session("internet"), zoneTarget(zone.name), zone.records);
    }
  }, 120_000);

  it("a transport entry added to the gateway's own map: its digest against the last update's baseline, mail flow; exit 1", async () => {
    const legacy = await session("legacy");
    const own = "/etc/postfix/transport";
    const before = (await legacy.exec(["cat", own])).stdout;
    await execSequence(legacy, [["sh", "-c", `echo 'elsewhere.test smtp:[192.0.2.7]' >> ${own} && postmap ${own}`]]);
    try {
      const r = await stackDrift(current(), { skipEngine: true });
      expect(notOk(r)).toEqual([`drift host legacy map hash:${own}`]);
      expect(r.findings.find((f) => f.check === `map hash:${own}`)?.severity).toBe("mail flow");
      expect(r.exitCode).toBe(1);
      expect(await previewEntries()).toEqual([`legacy-routing baseline["map hash:${own}"]`]);
    } finally {
      await legacy.writeFile(own, before);
      await legacy.exec(["postmap", own]);
    }
  }, 120_000);

  it("a header check changed by hand: a setting cutover does not own is still found, as config; exit 1", async () => {
    const legacy = await session("legacy");
    const own = "/etc/postfix/header_checks";
    const before = (await legacy.exec(["cat", own])).stdout;
    await legacy.writeFile(own, `${before}/^X-Mailer: evil/ DISCARD\n`);
    try {
      const r = await stackDrift(current(), { skipEngine: true });
      expect(notOk(r)).toEqual([`drift host legacy map regexp:${own}`]);
      expect(r.findings.find((f) => f.check === `map regexp:${own}`)?.severity).toBe("config");
      expect(r.exitCode).toBe(1);
      expect(renderDriftTable(r)).toMatch(/^DRIFT \(config\)\s+host\s+legacy\s+map regexp:/m);
      expect(await previewEntries()).toEqual([`legacy-routing baseline["map regexp:${own}"]`]);
    } finally {
      await legacy.writeFile(own, before);
    }
  }, 120_000);

  it("a mailbox moved by hand to the new server: the routing names the user, and the preview shows that user's lines only; exit 1", async () => {
    const legacy = await session("legacy");
    const planned = hostRouting(p4().routing.find((t) => t.host === "legacy")!);
    const moved = "user1@paradigms.test";
    const neu = lab.description.hosts.new!.address;
    await applyRouting(legacy, {
      ...planned,
      mailboxes: planned.mailboxes.filter((m) => m !== moved),
      relays: [...planned.relays, { recipient: moved, nextHop: neu }],
    });
    try {
      const r = await stackDrift(current(), { skipEngine: true });
      expect(notOk(r)).toEqual(["drift host legacy every user's route", "drift host legacy routing"]);
      expect(r.findings.find((f) => f.check === "routing" && f.subject === "legacy")?.actual).toContain(
        `mailboxes missing: ${moved}; relays not planned: ${moved}->${neu}`,
      );
      expect(r.findings.find((f) => f.check === "every user's route" && f.subject === "legacy")?.actual).toBe(
        `${moved} on legacy: relay to ${neu}; planned: local`,
      );
      expect(r.exitCode).toBe(1);
      const preview = await current().preview({ refresh: true });
      expect(entries(preview)).toEqual(["legacy-routing routing.mailboxes", "legacy-routing routing.relays"]);
      const lines = preview.steps.flatMap((st) => st.changes.flatMap((c) => [...c.added, ...c.removed]));
      expect(lines.every((l) => l.startsWith(moved))).toBe(true);
      // The phase command reads the hosts before it plans: its preview shows the hand change and what
      // re-applies it; a "no" changes nothing.
      const expected = [
        "  refresh  cutover:GatewayRouting legacy-routing (changed on the host since the last update)",
        `             routing.mailboxes: - ${moved}`,
        `             routing.relays: + ${moved} ${neu}`,
        "  update   cutover:GatewayRouting legacy-routing",
        `             routing.mailboxes: + ${moved}`,
        `             routing.relays: - ${moved} ${neu}`,
      ];
      const stackFile = readFileSync(current().stackFile, "utf8");
      const historyBefore = (await current().history()).length;
      const asked: string[] = [];
      const declined = await runPhase(current(), 4, {
        progress,
        confirm: async (question) => {
          asked.push(question);
          return false;
        },
      });
      expect(declined.status).toBe("declined");
      expect(asked).toEqual([`Apply phase 4 to ${current().name} (1 changed on the host, 1 to update)?`]);
      expect(describeSteps(declined.preview!).split("\n")).toEqual(expected);
      expect(readFileSync(current().stackFile, "utf8")).toBe(stackFile);
      expect((await current().history()).length).toBe(historyBefore);
      // With --yes: the same preview, then the up (which reads the hosts again, the preview having found a change).
      const again = await runPhase(current(), 4, { yes: true, progress });
      expect(again.status).toBe("done");
      expect(describeSteps(again.preview!).split("\n")).toEqual(expected);
      expect(describeSteps(again.up!).split("\n")).toEqual(expected);
    } finally {
      await applyRouting(legacy, planned);
    }
  }, 120_000);

  it("a one-user wave: the preview's changes name that user's lines only, once per gateway", async () => {
    const file = join(STACKS_DIR, labMailboxFile(current().name));
    const before = readFileSync(file, "utf8");
    writeFileSync(file, before.replace("user2@paradigms.test,legacy", "user2@paradigms.test,new"));
    try {
      const preview = await enginePreview(current(), 4);
      const routing = preview.steps.filter((st) => st.op === "update" && st.name.endsWith("-routing"));
      expect(routing.map((st) => st.name).sort()).toEqual(["legacy-routing", "new-routing"]);
      for (const st of routing) {
        const lines = st.changes.flatMap((c) => [...c.added, ...c.removed]);
        expect(lines.length, `${st.name}: ${JSON.stringify(st.changes)}`).toBeGreaterThan(0);
        expect(lines.every((l) => l.startsWith("user2@paradigms.test"))).toBe(true);
      }
      // The offline preview compares with what the last update deployed: the wave shows its user.
      const offline = (...extra: string[]) =>
        spawnSync(process.execPath, [require.resolve("tsx/cli"), "scripts/preview.ts", current().name, "--offline", ...extra], {
          encoding: "utf8",
          env: process.env,
        });
      const deployed = offline();
      expect(deployed.status, deployed.stderr).toBe(0);
      expect(deployed.stdout).toMatch(/^deployed by the last update \(phase 4\) -> phase 4: \d+ changes$/m);
      expect(deployed.stdout).toMatch(/^\s+\+ mailbox user2@paradigms\.test/m);
      expect(deployed.stdout).not.toMatch(/user[13-9]@paradigms/);
      // --against plan: the stack file's plan against itself, as before.
      expect(offline("--against", "plan").stdout.trim()).toBe("plan of phase 4 -> phase 4: no changes");
    } finally {
      writeFileSync(file, before);
    }
  }, 120_000);

  it("a relay opened on the gateway (the world added to its trusted clients): the open-relay test and the routing name it; exit 1", async () => {
    // (Postfix refuses to run smtpd at all with smtpd_relay_restrictions = permit; a relay is opened by trusting too much.)
    const legacy = await session("legacy");
    await execSequence(legacy, [["sh", "-c", `echo '0.0.0.0/0 OK' >> ${ROUTING_DIR}/current/trusted`], POSTFIX_RELOAD]);
    try {
      // postfix takes up to 2 s to reload: until then the relay is still closed.
      const r = await waitFor(
        () => stackDrift(current(), { skipEngine: true }),
        (x) => notOk(x).includes(`drift smtp ${service}:25 open relay`),
        15_000,
        500,
      );
      expect(notOk(r)).toEqual(["drift host legacy routing", `drift smtp ${service}:25 open relay`]);
      expect(r.findings.find((f) => f.check === "routing" && f.subject === "legacy")?.actual).toContain("trusted not planned: 0.0.0.0/0");
      expect(r.exitCode).toBe(1);
    } finally {
      await applyRouting(legacy, hostRouting(p4().routing.find((t) => t.host === "legacy")!));
    }
  }, 120_000);

  it("a Route 53 or Cloudflare zone: its name servers are found by NS lookup, then asked; no answer is unreachable", async () => {
    const knot = lab.description.hosts.internet!.address;
    const p = p4();
    const asCloud = { ...p, zones: p.zones.map((z) => (z.name === "paradigms.test" ? { ...z, provider: "route53" as const } : z)) };
    const inventory = loadStack(current().name, 4).inventory;
    const r = await checkDrift({ stack: current().name, plan: asCloud, inventory, nsLookup: [knot] });
    const dns = r.findings.filter((f) => f.area === "dns" && f.subject.startsWith("paradigms.test"));
    // One finding a record, and a TLSA record's signature besides;
    expect(dns.map((f) => `${f.status} ${f.subject}`)).toEqual(
      p.zones
        .find((z) => z.name === "paradigms.test")!
        .records.flatMap((rec) => (rec.type === "TLSA" ? [1, 2] : [1]).map(() => `ok paradigms.test @${knot}`))
        // and the zone's delegation: the DS at its parent against its keys.
        .concat("ok paradigms.test"),
    );
    const dead = await checkDrift({ stack: current().name, plan: asCloud, inventory, nsLookup: ["198.51.100.99"], timeoutMs: 1500 });
    // No SSH session was given: the host checks could not run, and say so.
    // Nor could the TLSA record the served keys are matched against be read.
    const served = [lab.description.hosts.legacy!.address, lab.description.hosts.new!.address, service].sort();
    expect(notOk(dead)).toEqual([
      "unreachable dns paradigms.test DS at the parent",
      "unreachable dns paradigms.test authoritative servers",
      `unreachable host ${current().name} hosts over SSH`,
      ...served.map((a) => `unreachable smtp ${a}:25 TLS key published`),
    ]);
    expect(dead.exitCode).toBe(2);
  }, 60_000);

  it("mx strategy: a resolver still holding the MX the plan moved away from is named, with how long it may hold it", async () => {
    const knot = lab.description.hosts.internet!.address;
    const p = p4();
    // The plan says the MX moved; the resolver asked (here the lab's server itself) still answers the old one.
    const moved = {
      ...p,
      gateway: { ...p.gateway, strategy: "mx" as const },
      zones: p.zones.map((z) => ({
        ...z,
        records: z.records.map((rec) =>
          rec.type === "MX" && rec.name === "paradigms.test" ? { ...rec, values: ["10 new.paradigms.test"] } : rec,
        ),
      })),
    };
    const r = await checkDrift({
      stack: current().name,
      plan: moved,
      inventory: loadStack(current().name, 4).inventory,
      resolvers: [knot],
    });
    const held = r.findings.find((f) => f.area === "resolver" && f.check === "paradigms.test MX")!;
    expect(held).toMatchObject({ status: "drift", subject: knot, expected: "10 new.paradigms.test" });
    expect(held.actual).toMatch(/^10 mail\.paradigms\.test for up to \d+ s more$/);
    expect(r.findings.find((f) => f.area === "resolver" && f.check === "aegean.test MX")?.status).toBe("ok");
  }, 60_000);

  /** A go-live that must not happen: refused by the pre-flight, with nothing recorded or moved. */
  const refusedGoLive = async (expected: RegExp) => {
    const before = await Promise.all((["legacy", "new"] as const).map(async (r) => readIdentity(await session(r), liveService(r))));
    const historyBefore = (await current().history()).length;
    const stackFile = readFileSync(current().stackFile, "utf8");
    const outcome = await runPhase(current(), 5, { yes: true, progress });
    expect(outcome.status).toBe("refused");
    expect(outcome.refusals.map((r) => r.guard)).toEqual(["go-live pre-flight"]);
    expect(outcome.refusals[0].message).toMatch(expected);
    expect((await current().history()).length).toBe(historyBefore);
    expect(readFileSync(current().stackFile, "utf8")).toBe(stackFile);
    return before;
  };
  const liveService = (role: HostRole) => ({ address: service, prefixLength: 24, interface: lab.description.hosts[role]!.interface });

  it("a go-live while the new server's postfix is stopped is refused before anything changes; mail keeps flowing through the legacy gateway", async () => {
    const neu = await session("new");
    await neu.exec(["postfix", "stop"]);
    try {
      const before = await refusedGoLive(
        /^postfix on new \(198\.51\.100\.20\), which is to take the gateway's address, is not running \(postfix status: .*\); start it \(postfix start\), then run the phase again$/,
      );
      const after = await Promise.all((["legacy", "new"] as const).map(async (r) => readIdentity(await session(r), liveService(r))));
      expect(after).toEqual(before);
      expect(after[0].holdsServiceAddress).toBe(true);
      // The commands name the stopped daemon and its host, never "the lab is down"; lab status agrees.
      const stopped = "postfix on new (198.51.100.20:25) is not listening";
      const command = script(["scripts/phase.ts", current().name, "5", "--yes"]);
      expect(command.status, command.stderr).toBe(3);
      expect(command.stderr).toContain(`lab: ${stopped}`);
      expect(command.stderr).toContain("refused (go-live pre-flight): postfix on new (198.51.100.20)");
      expect(command.stderr).not.toMatch(/lab is (not up|down)/);
      const status = script(["scripts/lab.ts", "status"]);
      expect(status.status, status.stderr).toBe(0);
      expect(status.stdout.split("\n")).toContain(stopped);
      expect(status.stdout).not.toContain("sshd on");
    } finally {
      await neu.exec(["postfix", "start"]);
    }
    expect((await verifyPhase(p4(), { session })).passed).toBe(true);
  }, 180_000);

  it("a go-live while the new server's sshd is stopped is refused naming it, with nothing moved", async () => {
    const before = await Promise.all((["legacy", "new"] as const).map(async (r) => readIdentity(await session(r), liveService(r))));
    await setSshd("new", false);
    try {
      await refusedGoLive(/^the go-live would start without new: cannot reach new at 198\.51\.100\.20:22/);
      const command = script(["scripts/phase.ts", current().name, "5", "--yes"]);
      expect(command.status, command.stderr).toBe(3);
      expect(command.stderr).toContain("lab: sshd on new (198.51.100.20:22) is not listening");
      expect(command.stderr).not.toMatch(/lab is (not up|down)/);
    } finally {
      await setSshd("new", true);
    }
    // Sessions opened before the restart live on in the old sshd's processes: start afresh.
    await pool.closeAll();
    pool = new SessionPool();
    const after = await Promise.all((["legacy", "new"] as const).map(async (r) => readIdentity(await session(r), liveService(r))));
    expect(after).toEqual(before);
    expect((await verifyPhase(p4(), { session })).passed).toBe(true);
  }, 180_000);

  it("the DNS server stopped: every DNS probe is reported unreachable, never clean (exit 2); a wave then stops before it records or changes anything, and the same wave finishes once it is back", async () => {
    const mailboxFile = () => join(STACKS_DIR, labMailboxFile(current().name));
    const beforeWave = readFileSync(mailboxFile(), "utf8");
    const waveFile = beforeWave.replace("user2@paradigms.test,legacy", "user2@paradigms.test,new");
    expect(waveFile).not.toBe(beforeWave);
    const internet = lab.description.hosts.internet!;
    await lab.inHost("internet", ["knotc", "-c", "/etc/knot/knot.conf", "stop"]);
    try {
      const r = await stackDrift(current(), { skipEngine: true, timeoutMs: 1000 });
      const dns = r.findings.filter((f) => f.area === "dns");
      expect(dns.length).toBeGreaterThan(0);
      expect(dns.every((f) => f.status === "unreachable")).toBe(true);
      // Whatever else needs DNS (postfix looks the client up before it greets) is unreachable too: nothing is called drift or clean.
      expect(notOk(r).filter((f) => !f.startsWith("unreachable "))).toEqual([]);
      expect(r.exitCode).toBe(2);
      // A wave while the DNS server is down: the preview's read of the live world fails first, so the
      // phase stops before anything is recorded or changed.
      writeFileSync(mailboxFile(), waveFile);
      const stackFile = readFileSync(current().stackFile, "utf8");
      const historyBefore = (await current().history()).length;
      await expect(runPhase(current(), 4, { yes: true, progress })).rejects.toThrow(/zone transfer of \S+ from 127\.0\.0\.1 failed/);
      expect(readFileSync(current().stackFile, "utf8")).toBe(stackFile);
      expect((await current().history()).length).toBe(historyBefore);
    } finally {
      await startDaemon(internet.namespace, ["/usr/sbin/knotd", "-d", "-c", "/etc/knot/knot.conf"]);
      await waitFor(
        () => queryRecord(internet.address, "paradigms.test", "MX", 500).catch(() => undefined),
        (a) => a?.status === "answer",
        15_000,
        200,
      );
    }
    // Nothing was half-applied: every host is as the last successful update left it.
    writeFileSync(mailboxFile(), beforeWave);
    expect(notOk(await stackDrift(current(), { skipEngine: true }))).toEqual([]);
    // The DNS server back, the same wave again finishes it (it reads the hosts first), and is verified.
    writeFileSync(mailboxFile(), waveFile);
    try {
      const wave = await runPhase(current(), 4, { yes: true, progress });
      expect(wave.status).toBe("done");
      expect(wave.up!.steps.filter((st) => st.op === "update").map((st) => st.name)).toEqual(
        expect.arrayContaining(["legacy-routing", "new-routing"]),
      );
    } finally {
      writeFileSync(mailboxFile(), beforeWave);
    }
    expect((await runPhase(current(), 4, { yes: true, progress })).status).toBe("done");
    await pool.closeAll();
  }, 240_000);
});
