/**
 * The dynamic providers' methods against the real lab, called as the engine calls them (the engine
 * itself runs them in test/engine). Each provider loads its logic at run time from the project.
 */
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { readdressHosts } from "../../components/go-live/readdress";
import {
  type GatewayIdentityState,
  type GatewayRoutingState,
  identityDigest,
  type OnPremZoneState,
  providerInThisProcess,
} from "../../components/providers/host-effects";
import { plan } from "../../src/model/plan";
import { recordSetMap, recordsDigest } from "../../src/model/records";
import { compactRouting, hostRouting, routingDigest } from "../../src/model/routing";
import { type HostCredentials, readdressArgs } from "../../src/pulumi/program";
import { readIdentity } from "../../src/remote/effects/identity";
import { readRouting } from "../../src/remote/effects/routing";
import { applyZone, readZone } from "../../src/remote/effects/zone";
import { SessionPool } from "../../src/remote/ssh";
import { sshEndpoint } from "../../src/remote/targets";
import { testLab } from "./env";

// The code each resource carries in the state, run in this process as the engine's provider host runs it.
const gatewayRoutingProvider = providerInThisProcess("gatewayRouting");
const gatewayIdentityProvider = providerInThisProcess("gatewayIdentity");
const onPremZoneProvider = providerInThisProcess("onPremZone");

const lab = testLab();
const privateKey = readFileSync(lab.description.adminKeyPath, "utf8");
const creds: HostCredentials = {
  hostKeys: Object.fromEntries(Object.entries(lab.description.hosts).map(([r, h]) => [r, h!.hostKey])),
  privateKey,
  tsigSecret: lab.description.tsig.secret,
};
const inv3 = lab.inventory(3);
const pool = new SessionPool();
afterAll(() => pool.closeAll());

describe("gateway routing provider", () => {
  const table = hostRouting(plan(inv3, 3).routing.find((t) => t.host === "new")!);
  const state: GatewayRoutingState = {
    host: sshEndpoint(inv3, "new", creds.hostKeys),
    privateKey,
    routing: compactRouting(table),
    digest: routingDigest(table),
  };

  it("creates, reads, diffs by digest and deletes back to the host's own configuration; records the host's whole postfix as the baseline", async () => {
    const created = await gatewayRoutingProvider.create(state);
    expect(created.outs.digest).toBe(state.digest);
    // The baseline: every main.cf setting but the identity's, master.cf, and the host's own maps (not cutover's).
    const baseline = created.outs.baseline!;
    expect(baseline["main.cf mynetworks"]).toContain("cidr:/etc/postfix/cutover/current/trusted");
    expect(baseline["master.cf smtp/inet"]).toMatch(/^smtp inet n - [ny] - - smtpd/);
    expect(baseline).not.toHaveProperty("main.cf myhostname");
    expect(
      Object.keys(baseline)
        .filter((k) => k.startsWith("map "))
        .every((k) => !k.includes("/etc/postfix/cutover/")),
    ).toBe(true);
    expect(await gatewayRoutingProvider.diff(created.id, created.outs, state)).toMatchObject({ changes: false });

    const s = await pool.session({ ...state.host, privateKey });
    await s.exec(["postconf", "-e", "mynetworks=0.0.0.0/0"]);
    const read = await gatewayRoutingProvider.read(created.id, created.outs);
    expect(read.props!.digest).toBe("not-configured");
    expect(read.props!.baseline!["main.cf mynetworks"]).toBe("0.0.0.0/0");
    expect(read.inputs).not.toHaveProperty("baseline");
    expect(await gatewayRoutingProvider.diff(created.id, read.props, state)).toMatchObject({ changes: true });
    await gatewayRoutingProvider.update(created.id, read.props, state);
    expect((await readRouting(s)).configured).toBe(true);

    await gatewayRoutingProvider.delete(created.id, created.outs);
    expect(await readRouting(s)).toMatchObject({ configured: false, routing: undefined });
  });
});

describe("gateway identity provider", () => {
  const stateAt = (phase: 4 | 5): GatewayIdentityState => {
    const inv = lab.inventory(phase);
    const hosts = readdressHosts(readdressArgs(inv, plan(inv, phase), creds));
    return { hosts, privateKey, holder: phase === 5 ? "new" : "legacy", digest: identityDigest(hosts) };
  };

  it("moves the gateway identity with update, reads who holds it, and gives back what was there on delete", async () => {
    const [s4, s5] = [stateAt(4), stateAt(5)];
    const legacy = await pool.session({ ...s4.hosts[0].host, privateKey });
    const before = await readIdentity(legacy, s4.hosts[0].identity.service);
    const created = await gatewayIdentityProvider.create(s4);
    expect((await gatewayIdentityProvider.read(created.id, created.outs)).props).toMatchObject({ holder: "legacy", digest: s4.digest });
    expect(await gatewayIdentityProvider.diff(created.id, s4, s5)).toMatchObject({ changes: true });
    // The taking host's postfix stopped: the move is refused before anything is released (the effect's own pre-flight).
    const neu = await pool.session({ ...s5.hosts[1].host, privateKey });
    const both = async () =>
      Promise.all([readIdentity(legacy, s4.hosts[0].identity.service), readIdentity(neu, s4.hosts[1].identity.service)]);
    const unmoved = await both();
    await neu.exec(["postfix", "stop"]);
    try {
      await expect(gatewayIdentityProvider.update(created.id, s4, s5)).rejects.toThrow(
        /^the go-live was refused before anything changed: postfix on new \(198\.51\.100\.20\), which is to take the gateway's address, is not running/,
      );
      expect(await both()).toEqual(unmoved);
    } finally {
      await neu.exec(["postfix", "start"]);
    }
    // A failure after the legacy gateway released the address: the move is undone, the legacy gateway serves again.
    process.env.CUTOVER_FAULT_FAIL_AFTER_RELEASE = "1";
    try {
      await expect(gatewayIdentityProvider.update(created.id, s4, s5)).rejects.toThrow(
        /^the gateway identity move failed: fault injected after the release \(CUTOVER_FAULT_FAIL_AFTER_RELEASE\); what it had changed was put back$/,
      );
      expect(await both()).toEqual(unmoved);
    } finally {
      delete process.env.CUTOVER_FAULT_FAIL_AFTER_RELEASE;
    }
    await gatewayIdentityProvider.update(created.id, s4, s5);
    expect((await gatewayIdentityProvider.read(created.id, s5)).props).toMatchObject({ holder: "new", digest: s5.digest });
    await gatewayIdentityProvider.delete(created.id, { ...s5, original: created.outs.original! });
    expect(await readIdentity(legacy, s4.hosts[0].identity.service)).toEqual(before);
  });
});

describe("on-prem zone provider", () => {
  const server = sshEndpoint(inv3, "internet", creds.hostKeys);
  /** The api.test zone's state as the program gives it in a phase. */
  const zone = (phase: 2 | 3): OnPremZoneState => {
    const z = plan(lab.inventory(phase), phase).zones.find((x) => x.name === "api.test")!;
    return {
      server,
      privateKey,
      zone: z.name,
      serverAddress: z.serverAddress!,
      tsigName: z.tsigKey!.name,
      tsigAlgorithm: z.tsigKey!.algorithm,
      tsigSecret: lab.description.tsig.secret,
      // Phase 2 as a state written before record sets were keyed (a list), phase 3 as today (a map).
      records: phase === 2 ? z.records : recordSetMap(z.records),
      digest: recordsDigest(z.records),
    };
  };

  it("sets the plan's records, removes the ones a phase drops, and on delete gives back what was there before", async () => {
    const [z2, z3] = [zone(2), zone(3)];
    const s = await pool.session({ ...server, privateKey });
    const target = { zone: "api.test", server: "127.0.0.1", tsig: lab.description.tsig };
    const names = async () => (await readZone(s, target)).map((r) => `${r.name} ${r.type}`);

    // Someone else's record at a name the plan manages, and one at a name it does not.
    const theirs = [
      { zone: "api.test", name: "api.test", type: "TXT" as const, ttl: 600, values: ["v=spf1 -all"] },
      { zone: "api.test", name: "www.api.test", type: "A" as const, ttl: 600, values: ["192.0.2.80"] },
    ];
    await applyZone(s, target, theirs);
    const before = await readZone(s, target);

    const created = await onPremZoneProvider.create(z2);
    expect(await names()).toContain("new.api.test MX");
    expect(created.outs.original).toContainEqual(theirs[0]);
    const updated = await onPremZoneProvider.update(created.id, created.outs, z3);
    expect(await names()).not.toContain("new.api.test MX");
    const read = await onPremZoneProvider.read(created.id, z3);
    expect(read.props!.digest).toBe(z3.digest);
    // Read back keyed by "name TYPE", as the inputs too: the next preview diffs record sets, not positions.
    expect(read.props!.records).toEqual(z3.records);
    expect(read.inputs).toMatchObject({ records: z3.records, digest: z3.digest });
    expect(read.inputs).not.toHaveProperty("original");
    await onPremZoneProvider.delete(created.id, updated.outs!);
    expect(await readZone(s, target)).toEqual(before);
    await applyZone(s, target, [], [theirs[1]]);
  });

  it("refuses a zone with two SPF records at a planned name, at the preview's check and at create, writing nothing", async () => {
    const state = zone(3);
    const s = await pool.session({ ...server, privateKey });
    const target = { zone: "api.test", server: "127.0.0.1", tsig: lab.description.tsig };
    const twoSpf = { zone: "api.test", name: "api.test", type: "TXT" as const, ttl: 600, values: ["v=spf1 mx -all", "v=spf1 a -all"] };
    await applyZone(s, target, [twoSpf]);
    try {
      const before = await readZone(s, target);
      const checked = await onPremZoneProvider.check!({}, state);
      expect(checked.failures).toEqual([
        { property: "records", reason: expect.stringMatching(/^zone api\.test: api\.test holds 2 SPF records .*keep one in the zone/) },
      ]);
      await expect(onPremZoneProvider.create(state)).rejects.toThrow(/holds 2 SPF records/);
      expect(await readZone(s, target)).toEqual(before);
      // A resource that manages the name already is not read again at each check.
      expect((await onPremZoneProvider.check!(state, state)).failures).toBeUndefined();
    } finally {
      await applyZone(s, target, [], [twoSpf]);
    }
  });
});
