/**
 * What the dynamic providers do, loaded by them at run time (see host-effects.ts): each method
 * runs a host effect over one SSH session per host and returns the state the engine keeps.
 */

import { adoptedSets, adoptionConflicts, adoptionLines, managedPart, restoredSets } from "../../src/model/adoption";
import { CutoverError } from "../../src/model/errors";
import { archiveWith } from "../../src/model/mailbox-archive";
import { type DnsRecord, type RecordSetMap, recordSetKey, recordSetList, recordSetMap, recordsDigest } from "../../src/model/records";
import { compactRouting, expandRouting } from "../../src/model/routing";
import { cloudflareZone, route53Zone, type ZoneRecords } from "../../src/remote/effects/cloud-zone";
import {
  applyGatewayIdentity,
  drainHost,
  drainPolicyRemovalCommands,
  type GoLiveHooks,
  type LiveIdentity,
  persistedDifferences,
  readIdentity,
  takesSessions,
} from "../../src/remote/effects/identity";
import { applyPolicies, readPolicies, removePolicies } from "../../src/remote/effects/mta-sts";
import { readBaseline } from "../../src/remote/effects/postfix-baseline";
import { applyRouting, readRouting, restoreRouting } from "../../src/remote/effects/routing";
import { applyZone, readZone, type ZoneTarget } from "../../src/remote/effects/zone";
import { execSequence, type HostSession, type HostTarget, SessionPool, withSession } from "../../src/remote/ssh";
import { hostTarget } from "../../src/remote/targets";
import {
  type CloudZoneState,
  type GatewayDrainState,
  type GatewayIdentityState,
  type GatewayRoutingState,
  type HostEffectProvider,
  identityDigest,
  type MailboxArchiveState,
  type MtaStsPoliciesState,
  type OnPremZoneState,
  type SshEndpoint,
} from "./host-effects";

const sameConnection = (a: SshEndpoint, b: SshEndpoint) =>
  a.address === b.address && a.port === b.port && a.user === b.user && a.hostKey === b.hostKey;

/** One session per host of the identity, for the length of fn. */
async function withIdentityHosts<T>(state: GatewayIdentityState, fn: (sessions: HostSession[]) => Promise<T>): Promise<T> {
  const pool = new SessionPool();
  try {
    return await fn(await Promise.all(state.hosts.map((h) => pool.session(hostTarget(h.host, state.privateKey)))));
  } finally {
    await pool.closeAll();
  }
}

/** The documentation ranges (RFC 5737), where the lab's hosts live and no real gateway does. */
const DOCUMENTATION = [/^192\.0\.2\./, /^198\.51\.100\./, /^203\.0\.113\./];

/**
 * Fault injection for the zero-loss and go-live tests: CUTOVER_FAULT_PAUSE_AFTER_RELEASE_MS holds a
 * go-live for that long after the old holder released the address, so that a test can cut SSH or
 * kill the engine at exactly that point; CUTOVER_FAULT_FAIL_AFTER_RELEASE makes the go-live fail
 * there (what it changed must be put back). Honoured only for hosts in the documentation ranges
 * (the lab's): a switch left set in an operator's environment is refused before anything moves,
 * never obeyed on real gateways.
 */
export function faultHooks(env: NodeJS.ProcessEnv, addresses: string[]): GoLiveHooks {
  const ms = Number(env.CUTOVER_FAULT_PAUSE_AFTER_RELEASE_MS ?? 0);
  const fail = Boolean(env.CUTOVER_FAULT_FAIL_AFTER_RELEASE);
  if (!ms && !fail) return {};
  const real = addresses.filter((a) => !DOCUMENTATION.some((r) => r.test(a)));
  if (real.length)
    throw new CutoverError(
      `CUTOVER_FAULT_${ms ? "PAUSE_AFTER_RELEASE_MS" : "FAIL_AFTER_RELEASE"} is set, and ${real.join(", ")} is no lab host: fault injection is for the lab only; unset it and run again (nothing was moved)`,
    );
  return {
    afterRelease: async () => {
      if (ms > 0) await new Promise((r) => setTimeout(r, ms));
      if (fail) throw new Error("fault injected after the release (CUTOVER_FAULT_FAIL_AFTER_RELEASE)");
    },
  };
}

/** Applies the identity on every host that is up; a host declared down is left out (see IdentityHost.down). */
const applyIdentities = (state: GatewayIdentityState): Promise<LiveIdentity[]> => {
  const up = { ...state, hosts: state.hosts.filter((h) => !h.down) };
  const hooks = faultHooks(
    process.env,
    state.hosts.flatMap((h) => [h.host.address, h.identity.service.address]),
  );
  return withIdentityHosts(up, (sessions) =>
    applyGatewayIdentity(
      up.hosts.map((h, i) => ({ session: sessions[i], identity: h.identity })),
      hooks,
      state.hosts.filter((h) => h.down).map((h) => h.host.name),
    ),
  );
};

export const gatewayRouting: HostEffectProvider<GatewayRoutingState> = {
  async diff(_id, olds, news) {
    const replaces = sameConnection(olds.host, news.host) ? [] : ["host"];
    const renewed = (olds.chainDigest ?? "") !== (news.chainDigest ?? "");
    return { changes: olds.digest !== news.digest || renewed || replaces.length > 0, replaces, deleteBeforeReplace: true };
  },
  async create(inputs) {
    // Routing cutover set up earlier (another stack, a rehearsal) is kept, so delete can put it back.
    const { applied, original, baseline } = await withSession(hostTarget(inputs.host, inputs.privateKey), async (s) => {
      const live = await readRouting(s);
      return {
        applied: await applyRouting(s, expandRouting(inputs.routing), live, inputs.gatewayChain),
        original: live.configured && live.routing ? compactRouting(live.routing) : undefined,
        baseline: await readBaseline(s),
      };
    });
    return {
      id: `${inputs.host.name}@${inputs.host.address}`,
      outs: { ...inputs, digest: applied.digest, baseline, ...(original ? { original } : {}) },
    };
  },
  async update(_id, olds, news) {
    const { applied, baseline } = await withSession(hostTarget(news.host, news.privateKey), async (s) => ({
      applied: await applyRouting(s, expandRouting(news.routing), undefined, news.gatewayChain),
      baseline: await readBaseline(s),
    }));
    return { outs: { ...news, digest: applied.digest, baseline, ...(olds.original ? { original: olds.original } : {}) } };
  },
  async read(id, props) {
    const state = props!;
    const [live, baseline] = await withSession(
      hostTarget(state.host, state.privateKey),
      async (s) => [await readRouting(s), await readBaseline(s)] as const,
    );
    const found = {
      digest: live.configured && live.digest ? live.digest : "not-configured",
      routing: live.routing ? compactRouting(live.routing) : state.routing,
    };
    // The live routing becomes the inputs too, so the next preview diffs it against the plan's.
    const { original: _o, baseline: _b, ...inputs } = state;
    return { id, props: { ...state, ...found, baseline }, inputs: { ...inputs, ...found } };
  },
  async delete(_id, props) {
    const original = props.original;
    await withSession(hostTarget(props.host, props.privateKey), (s) =>
      original ? applyRouting(s, expandRouting(original)).then(() => undefined) : restoreRouting(s),
    );
  },
};

export const gatewayIdentity: HostEffectProvider<GatewayIdentityState> = {
  async diff(_id, olds, news) {
    return { changes: olds.digest !== news.digest };
  },
  async create(inputs) {
    // What delete puts back is read from every host: the identity is first set up with all of them up.
    const down = inputs.hosts.filter((h) => h.down).map((h) => h.host.name);
    if (down.length)
      throw new CutoverError(
        `the gateway identity is set up for the first time, which needs every host, but ${down.join(", ")} was declared down: --legacy-down is for a go-live from phase 4`,
      );
    const before = await applyIdentities(inputs);
    const original = inputs.hosts.map((h, i) => ({
      role: h.host.name,
      banner: before[i].banner,
      ownName: before[i].ownName,
      kernelHostName: before[i].kernelHostName,
      heloName: before[i].heloName,
      holdsServiceAddress: before[i].holdsServiceAddress,
      drainPolicy: before[i].drainPolicy,
      dataRestrictions: before[i].dataRestrictions,
    }));
    return { id: "gateway-identity", outs: { ...inputs, original } };
  },
  async update(_id, olds, news) {
    await applyIdentities(news);
    return { outs: { ...news, ...(olds.original ? { original: olds.original } : {}) } };
  },
  async read(id, props) {
    const state = props!;
    const live = await withIdentityHosts(state, (sessions) =>
      Promise.all(state.hosts.map((h, i) => readIdentity(sessions[i], h.identity.service))),
    );
    const hosts = state.hosts.map((h, i) => ({
      ...h,
      identity: {
        ...h.identity,
        hostName: live[i].hostName,
        ownName: live[i].ownName,
        // An Elastic IP's holder is the association's to say (the engine refreshes it), not the host's.
        holdsServiceAddress: h.identity.service.interface ? live[i].holdsServiceAddress : h.identity.holdsServiceAddress,
      },
    }));
    const holders = hosts.filter((h) => h.identity.holdsServiceAddress);
    // A host that should take sessions but drops new ones (a release's guard left in place) is drift
    // too: the digest says so, and the next up's identity opens the port (addressCommands).
    const closed = hosts.filter((h, i) => live[i].closedToNewSessions && takesSessions(h.identity));
    // A host whose own configuration would bring back something else at its next boot is drift too:
    // the next up writes it (persistenceCommands).
    const unpersisted = state.hosts.flatMap((h, i) => {
      const differ = persistedDifferences(live[i], h.identity.service.interface ? h.identity.holdsServiceAddress : undefined);
      return differ.length ? [`${h.host.name} (${differ.join("; ")})`] : [];
    });
    const digest =
      identityDigest(hosts) +
      (closed.length ? ` closed to new SMTP sessions: ${closed.map((h) => h.host.name).join(", ")}` : "") +
      (unpersisted.length ? ` runtime and persisted configuration differ: ${unpersisted.join(", ")}` : "");
    return {
      id,
      props: { ...state, hosts, holder: holders.length === 1 ? holders[0].host.name : "unknown", digest },
    };
  },
  async delete(_id, props) {
    // Deleting the identity gives every host back the names and address it had before the stack;
    // without that record, the address and the gateway's name go back to the legacy gateway.
    const gatewayName = props.hosts.find((h) => h.identity.holdsServiceAddress)?.identity.hostName;
    const hosts = props.hosts.map((h) => {
      const before = props.original?.find((o) => o.role === h.host.name);
      if (before)
        return {
          ...h,
          identity: {
            ...h.identity,
            banner: before.banner,
            ownName: before.ownName,
            kernelHostName: before.kernelHostName,
            // A state recorded before cutover kept the HELO name has none: its smtp_helo_name is left.
            ...(before.heloName !== undefined ? { heloName: before.heloName } : {}),
            holdsServiceAddress: before.holdsServiceAddress,
          },
        };
      const legacy = h.host.name === "legacy";
      return {
        ...h,
        identity: { ...h.identity, holdsServiceAddress: legacy, hostName: legacy && gatewayName ? gatewayName : h.identity.ownName },
      };
    });
    await applyIdentities({ ...props, hosts });
    // The drain policy goes where the stack brought it.
    const without = props.hosts.filter((h) => props.original?.find((o) => o.role === h.host.name)?.drainPolicy === false);
    if (without.length)
      await withIdentityHosts({ ...props, hosts: without }, (sessions) =>
        Promise.all(
          without.map((h, i) =>
            execSequence(
              sessions[i],
              drainPolicyRemovalCommands(props.original!.find((o) => o.role === h.host.name)!.dataRestrictions ?? ""),
            ),
          ),
        ),
      );
  },
};

const zoneTarget = (s: OnPremZoneState) => ({
  zone: s.zone,
  server: s.serverAddress,
  tsig: { name: s.tsigName, algorithm: s.tsigAlgorithm, secret: s.tsigSecret },
});

export const gatewayDrain: HostEffectProvider<GatewayDrainState> = {
  async diff(_id, olds, news) {
    return { changes: olds.digest !== news.digest || news.moveDue === true };
  },
  async create(inputs) {
    await withSession(hostTarget(inputs.host, inputs.privateKey), (s) => drainHost(s, inputs.address, inputs.ports));
    return { id: "gateway-drain", outs: inputs };
  },
  async update(_id, _olds, news) {
    await withSession(hostTarget(news.host, news.privateKey), (s) => drainHost(s, news.address, news.ports));
    return { outs: news };
  },
  // A drain is a moment, not a state: what the hosts take afterwards is the identity's to read.
  async read(id, props) {
    return { id, props: props! };
  },
  async delete() {},
};

/** A zone state's record sets as a list (a map since record sets are keyed; a list in older states). */
const recordsOf = (s: { zone: string; records: RecordSetMap | DnsRecord[] }) => recordSetList(s.zone, s.records);

/**
 * Two SSH connections per DNS server for the provider process's life (one engine run), shared by
 * every zone on it, used in turn: an on-prem stack of 200 zones made 200 SSH handshakes per refresh,
 * and as many connection attempts at once as the engine ran operations, which a stock sshd
 * (MaxStartups 10) starts dropping. Each connection runs at most 5 commands at once (ssh.ts,
 * MAX_CHANNELS). The scale bench's first up took 72.6 s with one connection, and 38.9 s once but
 * 67.4-69.6 s in four later runs with two: not what bounds it (see docs/benchmarks.md). (The provider loads
 * this module once per process: tsx's require returns the cached module.)
 */
const DNS_CONNECTIONS = 2;
const dnsPools = Array.from({ length: DNS_CONNECTIONS }, () => new SessionPool());
let dnsTurn = 0;

const withDnsServer = async <T>(target: HostTarget, fn: (s: HostSession) => Promise<T>): Promise<T> =>
  fn(await dnsPools[dnsTurn++ % DNS_CONNECTIONS].session(target));

/** Stops before anything is written when the live zone cannot take the planned sets (see adoptionConflicts). */
function refuseConflicts(zone: string, z: ZoneRecords, desired: DnsRecord[], live: DnsRecord[]): void {
  const conflicts = [...adoptionConflicts(zone, desired, live), ...(z.conflicts?.(desired) ?? [])];
  if (conflicts.length) throw new CutoverError(conflicts.join("\n"));
}

/** What every zone provider's state holds: the managed sets, their digest, and what they held before. */
interface AdoptingZoneState {
  zone: string;
  /** The managed record sets by "name TYPE" (a list in on-prem states written before the map). */
  records: RecordSetMap | DnsRecord[];
  digest: string;
  /** What the managed names held before the stack set them: what delete puts back. */
  original?: DnsRecord[];
}

/**
 * The organisation's records are adopted, not overwritten, on every DNS provider alike: what a
 * managed name held before cutover first wrote it (its original) is kept in the state; a TXT name
 * keeps the values others hold there and one merged SPF record (adoptedSets); a name that leaves
 * management, or the whole zone on delete, gets its original back (restoredSets). `withZone` reaches
 * the zone (SSH to an on-prem server, or a cloud provider's API); `replaced` says when the state
 * names another zone.
 */
function adoptingZone<S extends AdoptingZoneState>(
  withZone: <T>(state: S, fn: (z: ZoneRecords) => Promise<T>) => Promise<T>,
  replaced: (olds: S, news: S) => boolean,
): HostEffectProvider<S> {
  return {
    // At the preview too: a zone that cannot take the plan (two SPF records, a CNAME at a planned
    // name) stops the phase before anything is written. Only sets not managed yet are read for it.
    async check(olds: Partial<S>, news: S) {
      const before = new Set(olds?.records && olds.zone ? recordsOf({ zone: olds.zone, records: olds.records }).map(recordSetKey) : []);
      const fresh = recordsOf(news).filter((r) => !before.has(recordSetKey(r)));
      if (!fresh.length) return { inputs: news };
      let found: { conflicts: string[]; adoption: string[] };
      try {
        found = await withZone(news, async (z) => {
          const live = await z.read();
          return {
            conflicts: [...adoptionConflicts(news.zone, fresh, live), ...(z.conflicts?.(fresh) ?? [])],
            adoption: adoptionLines(fresh, live),
          };
        });
      } catch {
        // Unread here, the update reads it again before writing anything.
        return { inputs: news };
      }
      // What the first write does to the organisation's records: the preview prints it (ops/outcome.ts).
      const inputs = found.adoption.length ? { ...news, adoption: found.adoption } : news;
      return { inputs, failures: found.conflicts.map((reason) => ({ property: "records", reason })) };
    },
    async diff(_id, olds, news) {
      const replaces = replaced(olds, news) ? ["zone"] : [];
      return { changes: olds.digest !== news.digest || replaces.length > 0, replaces, deleteBeforeReplace: true };
    },
    async create(inputs) {
      // What the managed names held before is kept, so delete can put it back.
      const desired = recordsOf(inputs);
      const original = await withZone(inputs, async (z) => {
        const live = await z.read();
        refuseConflicts(inputs.zone, z, desired, live);
        const managed = new Set(desired.map(recordSetKey));
        const held = live.filter((r) => managed.has(recordSetKey(r)));
        await z.write(adoptedSets(desired, live, held), [], live);
        return held;
      });
      return { id: inputs.zone, outs: { ...inputs, original } };
    },
    async update(_id, olds, news) {
      const [was, want] = [recordsOf(olds), recordsOf(news)];
      const original = await withZone(news, async (z) => {
        const live = await z.read();
        const [before, now] = [new Set(was.map(recordSetKey)), new Set(want.map(recordSetKey))];
        refuseConflicts(
          news.zone,
          z,
          want.filter((r) => !before.has(recordSetKey(r))),
          live,
        );
        const kept = olds.original ?? [];
        const restored = [
          ...kept,
          ...live.filter(
            (r) => now.has(recordSetKey(r)) && !before.has(recordSetKey(r)) && !kept.some((k) => recordSetKey(k) === recordSetKey(r)),
          ),
        ];
        // Names the phase stops managing get back what they held before (and what others added since), or go.
        await z.write(
          [
            ...adoptedSets(want, live, restored, was),
            ...restoredSets(
              was.filter((r) => !now.has(recordSetKey(r))),
              live,
              restored,
            ),
          ],
          was,
          live,
        );
        return restored;
      });
      return { outs: { ...news, original } };
    },
    async read(id, props) {
      const state = props!;
      const managed = new Set(recordsOf(state).map(recordSetKey));
      const live = await withZone(state, (z) => z.read());
      // cutover's part only: values others keep at a shared TXT name are theirs, never drift.
      const records = managedPart(
        live.filter((r) => managed.has(recordSetKey(r))),
        recordsOf(state),
        state.original ?? [],
      );
      const found = { records: recordSetMap(records), digest: recordsDigest(records) };
      // The live records become the inputs too, so the next preview diffs them against the plan's.
      const { original: _, ...inputs } = state;
      return { id, props: { ...state, ...found }, inputs: { ...inputs, ...found } as S };
    },
    async delete(_id, props) {
      const records = recordsOf(props);
      const managed = new Set(records.map(recordSetKey));
      const original = (props.original ?? []).filter((r) => managed.has(recordSetKey(r)));
      await withZone(props, async (z) => {
        const live = await z.read();
        await z.write(restoredSets(records, live, original), records, live);
      });
    },
  };
}

/** An on-prem zone's records over SSH: AXFR to read, one RFC 2136 update to write (zone.ts). */
const onPremRecords = (s: HostSession, target: ZoneTarget): ZoneRecords => ({
  read: () => readZone(s, target),
  write: (desired, previouslyManaged, live) => applyZone(s, target, desired, previouslyManaged, live),
});

/** The plan's records in an on-prem zone, on a BIND or Knot server reached by SSH. */
export const onPremZone = adoptingZone<OnPremZoneState>(
  (state, fn) => withDnsServer(hostTarget(state.server, state.privateKey), (s) => fn(onPremRecords(s, zoneTarget(state)))),
  (olds, news) => olds.zone !== news.zone || !sameConnection(olds.server, news.server),
);

/**
 * The plan's records in an existing Route 53 hosted zone or Cloudflare zone, through the provider's
 * API. Cloudflare's token: CLOUDFLARE_API_TOKEN in the environment, else the stack's
 * cloudflare:apiToken as the program passed it.
 */
export const cloudZone = cloudZoneWith(cloudZoneRecords);

/** A cloud zone's records through its provider's API, with the credentials where the engine runs. */
function cloudZoneRecords(state: CloudZoneState): ZoneRecords {
  if (state.dnsProvider === "route53") return route53Zone(state.zone, state.zoneId);
  const token = process.env.CLOUDFLARE_API_TOKEN || state.apiToken;
  if (!token)
    throw new CutoverError(
      `Cloudflare zone ${state.zone}: no API token: set CLOUDFLARE_API_TOKEN, or pulumi config set --secret cloudflare:apiToken (Zone DNS Edit on this zone)`,
    );
  return cloudflareZone(state.zone, state.zoneId, token);
}

/** The cloud zone provider over the given way to reach a zone's records (the tests give the APIs' answers). */
export function cloudZoneWith(open: (state: CloudZoneState) => ZoneRecords): HostEffectProvider<CloudZoneState> {
  return adoptingZone<CloudZoneState>(
    (state, fn) => fn(open(state)),
    (olds, news) => olds.zone !== news.zone || olds.zoneId !== news.zoneId || olds.dnsProvider !== news.dnsProvider,
  );
}

const samePolicies = (a: Record<string, string>, b: Record<string, string>) =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

export const mtaStsPolicies: HostEffectProvider<MtaStsPoliciesState> = {
  async diff(_id, olds, news) {
    const replaces = !sameConnection(olds.host, news.host) || olds.directory !== news.directory ? ["host"] : [];
    return { changes: replaces.length > 0 || !samePolicies(olds.policies, news.policies), replaces, deleteBeforeReplace: true };
  },
  async create(inputs) {
    await withSession(hostTarget(inputs.host, inputs.privateKey), (s) =>
      applyPolicies(
        s,
        inputs.directory,
        Object.entries(inputs.policies).map(([domain, text]) => ({ domain, text })),
      ),
    );
    return { id: "mta-sts-policies", outs: inputs };
  },
  async update(_id, olds, news) {
    await withSession(hostTarget(news.host, news.privateKey), (s) =>
      applyPolicies(
        s,
        news.directory,
        Object.entries(news.policies).map(([domain, text]) => ({ domain, text })),
        Object.keys(olds.policies),
      ),
    );
    return { outs: news };
  },
  async read(id, props) {
    const state = props!;
    const live = await withSession(hostTarget(state.host, state.privateKey), (s) =>
      readPolicies(s, state.directory, Object.keys(state.policies)),
    );
    const policies = Object.fromEntries(Object.keys(state.policies).map((d) => [d, live[d] ?? ""]));
    // The files as found become the inputs too, so the next preview diffs them against the plan's.
    return { id, props: { ...state, policies }, inputs: { ...state, policies } };
  },
  async delete(_id, props) {
    await withSession(hostTarget(props.host, props.privateKey), (s) => removePolicies(s, props.directory, Object.keys(props.policies)));
  },
};

export const mailboxArchive: HostEffectProvider<MailboxArchiveState> = {
  async diff(_id, olds, news) {
    return { changes: olds.digest !== news.digest };
  },
  async create(inputs) {
    return {
      id: "mailbox-archive",
      outs: { digest: inputs.digest, packed: inputs.packed, entries: archiveWith([], { digest: inputs.digest, packed: inputs.packed }) },
    };
  },
  async update(_id, olds, news) {
    return {
      outs: {
        digest: news.digest,
        packed: news.packed,
        entries: archiveWith(olds.entries ?? [], { digest: news.digest, packed: news.packed }),
      },
    };
  },
  async read(id, props) {
    return { id, props: props! };
  },
  async delete() {},
};
