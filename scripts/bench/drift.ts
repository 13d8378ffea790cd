/**
 * The drift bench: 1,000 records in 200 zones served by the lab's DNS server, plus the lab's hosts
 * (routing, names, address holder) and the gateway over SMTP, checked against a plan. Runs in the
 * lab's operator namespace; sets the lab to the pilot's phase-4 state with the host effects first,
 * so the check is clean, and puts it back afterwards.
 */
import { readFileSync } from "node:fs";
import { labHostKeys, readLabDescription, serveExtraZones } from "../../lab/lab";
import { checkDrift } from "../../src/checks/drift";
import type { HostRole } from "../../src/model/inventory";
import { type DnsRecord, type Plan, plan } from "../../src/model/plan";
import { hostRouting } from "../../src/model/routing";
import { loadStack } from "../../src/model/stack-file";
import { applyIdentity, drainPolicyRemovalCommands } from "../../src/remote/effects/identity";
import { readBaseline } from "../../src/remote/effects/postfix-baseline";
import { applyRouting, restoreRouting } from "../../src/remote/effects/routing";
import { applyZone, readZone } from "../../src/remote/effects/zone";
import { execSequence, SessionPool } from "../../src/remote/ssh";
import { hostTarget, sshEndpoint } from "../../src/remote/targets";

export async function driftBench(
  zones = 200,
  perZone = 5,
): Promise<{ seconds: number; records: number; checks: number; exitCode: number; notOk: number }> {
  const lab = readLabDescription();
  const inv = loadStack("pilot", 4).inventory;
  const p4 = plan(inv, 4);
  const key = readFileSync(lab.adminKeyPath, "utf8");
  const pool = new SessionPool();
  const session = (role: HostRole) => pool.session(hostTarget(sshEndpoint(inv, role, labHostKeys(lab)), key));
  const dns = inv.hosts.internet!;
  const extra = Array.from({ length: zones }, (_, i) => {
    const name = `bench-${i}.test`;
    const all: DnsRecord[] = [
      { zone: name, name, type: "MX", ttl: 300, values: [`10 mail.${name}`] },
      { zone: name, name, type: "TXT", ttl: 300, values: [`v=spf1 ip4:${p4.gateway.address} -all`] },
      { zone: name, name: `mail.${name}`, type: "A", ttl: 300, values: [p4.gateway.address] },
      { zone: name, name: `legacy.${name}`, type: "A", ttl: 300, values: [dns.address] },
      { zone: name, name: `new.${name}`, type: "A", ttl: 300, values: [dns.address] },
    ];
    return { name, records: all.slice(0, perZone) };
  });
  const benchPlan: Plan = {
    ...p4,
    zones: [
      ...p4.zones,
      ...extra.map((z) => ({
        name: z.name,
        provider: "bind" as const,
        server: "internet" as HostRole,
        serverAddress: "127.0.0.1",
        tsigKey: { name: lab.tsig.name, algorithm: lab.tsig.algorithm },
        records: z.records,
      })),
    ],
  };
  const target = (zone: string) => ({ zone, server: "127.0.0.1", tsig: lab.tsig });
  const zonesBefore = new Map<string, DnsRecord[]>();
  try {
    await serveExtraZones(extra);
    // The pilot's phase-4 state, as the stack would set it.
    for (const z of p4.zones) {
      zonesBefore.set(z.name, await readZone(await session("internet"), target(z.name)));
      await applyZone(await session("internet"), target(z.name), z.records);
    }
    for (const h of p4.hosts)
      await applyIdentity(await session(h.role), {
        hostName: h.name,
        ownName: h.ownName,
        holdsServiceAddress: h.role === p4.gateway.service.holder,
        service: {
          address: p4.gateway.service.address,
          prefixLength: p4.gateway.service.prefixLength,
          interface: lab.hosts[h.role]!.interface,
        },
      });
    for (const t of p4.routing) await applyRouting(await session(t.host), hostRouting(t));
    // Each host's postfix as an update would have recorded it: the check compares the live one with it.
    const recorded = Object.fromEntries(
      await Promise.all(p4.routing.map(async (t) => [t.host, await readBaseline(await session(t.host))] as const)),
    );

    const started = performance.now();
    const report = await checkDrift({
      stack: "bench",
      plan: benchPlan,
      inventory: inv,
      session,
      tsig: lab.tsig,
      baselines: async () => recorded,
    });
    const seconds = (performance.now() - started) / 1000;
    for (const f of report.findings.filter((x) => x.status !== "ok").slice(0, 5))
      process.stderr.write(`bench: not ok: ${JSON.stringify(f)}\n`);
    return {
      seconds,
      records: benchPlan.zones.reduce((n, z) => n + z.records.length, 0),
      checks: report.findings.length,
      exitCode: report.exitCode,
      notOk: report.findings.filter((x) => x.status !== "ok").length,
    };
  } finally {
    for (const role of ["legacy", "new", "internet"] as const) {
      await restoreRouting(await session(role));
      await execSequence(await session(role), drainPolicyRemovalCommands(""));
    }
    for (const z of p4.zones) await applyZone(await session("internet"), target(z.name), zonesBefore.get(z.name) ?? [], z.records);
    await serveExtraZones([]);
    await pool.closeAll();
  }
}
