/**
 * DNS as the world sees it: every planned record at every authoritative server, the records of
 * zones that the plan does not manage (listed, left alone), and (mx strategy) what resolvers still hold.
 */
import { Resolver } from "node:dns/promises";
import type { PlannedHost, PlannedZone } from "../../model/plan";
import { recordSetKey, sharedTxt } from "../../model/records";
import { readZones } from "../../remote/effects/zone";
import { queryRecord } from "../dns-query";
import { delegationProblem } from "../dnssec";
import { compared, type DriftOptions, type Finding, type Probe, probe, recordText, timeoutOf, withTimeout } from "./common";

/**
 * The addresses of the servers authoritative for a zone: the on-prem server's host, as the
 * inventory says; for Route 53 and Cloudflare zones, the zone's NS records and their addresses as
 * the resolvers (`lookup`, default the system's) see them.
 */
export async function authoritativeServers(
  z: PlannedZone,
  hosts: Pick<PlannedHost, "role" | "address">[],
  lookup: string[] | undefined,
): Promise<string[]> {
  const server = z.provider === "bind" && z.server ? hosts.find((h) => h.role === z.server) : undefined;
  if (server) return [server.address];
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  if (lookup?.length) resolver.setServers(lookup);
  const names = await resolver.resolveNs(z.name);
  const addresses = (await Promise.all(names.map((n) => resolver.resolve4(n).catch(() => [] as string[])))).flat();
  if (!addresses.length) throw new Error(`none of the name servers of ${z.name} (${names.join(", ")}) has an address`);
  return [...new Set(addresses)].sort();
}

const SIGNED = "signed (RRSIG)";
/** What a sender does with a TLSA record that comes without a signature, and the fix. */
const UNSIGNED =
  "no signature: a DANE sender ignores a TLSA record of an unsigned zone (RFC 7672 2.2), so the gateway's key is not enforced; sign the zone and publish its DS record at the parent";

/** Every planned record at every server authoritative for its zone: value, TTL, authority; a TLSA record's signature too. */
export async function plannedRecordProbes(o: DriftOptions): Promise<Probe[]> {
  const timeoutMs = timeoutOf(o);
  const perZone = await Promise.all(
    o.plan.zones.map(async (z): Promise<Probe[]> => {
      const where = { area: "dns" as const, subject: z.name, check: "authoritative servers" };
      let servers: string[];
      try {
        servers = await withTimeout(authoritativeServers(z, o.plan.hosts, o.nsLookup), timeoutMs, `name servers of ${z.name}`);
      } catch (e) {
        return [probe(where, () => Promise.reject(e))];
      }
      return servers.flatMap((server) =>
        z.records.map((r) => {
          const at = { area: "dns" as const, subject: `${z.name} @${server}`, check: recordSetKey(r) };
          return probe(at, async () => {
            // A TLSA record counts only in a signed zone: asked with its signatures.
            const dane = r.type === "TLSA";
            const a = await queryRecord(server, r.name, r.type, timeoutMs, { dnssec: dane });
            const want = recordText(r.ttl, [...r.values].sort());
            const have = recordText(a.ttl, a.values);
            const actual = a.status === "answer" ? `${have}${a.authoritative ? "" : " (not authoritative)"}` : a.status;
            if (r.type === "TXT" && a.status === "answer") {
              // A TXT name is shared: the plan's values, one SPF holding the plan's terms, others' values beside them.
              const { holds, others } = sharedTxt(r.values, a.values);
              const value = compared(at, a.authoritative && a.ttl === r.ttl && holds, want, actual);
              return others.length && value.status === "ok"
                ? [
                    value,
                    {
                      ...at,
                      check: `${at.check} beside the plan's`,
                      status: "note" as const,
                      actual: `kept as others set them: ${others.join(", ")}`,
                    },
                  ]
                : [value];
            }
            const value = compared(at, a.status === "answer" && a.authoritative && want === have, want, actual);
            if (!dane || a.status !== "answer") return [value];
            return [value, compared({ ...at, check: `${at.check} signature` }, a.signed === true, SIGNED, a.signed ? SIGNED : UNSIGNED)];
          });
        }),
      );
    }),
  );
  return perZone.flat();
}

/**
 * Each zone that publishes a TLSA record: the DS its parent publishes (as a resolver finds it,
 * `nsLookup` or the system's) against the zone's keys (as its first authoritative server answers).
 * A signed zone without DS has DANE silently off; a DS matching no key fails every DANE sender.
 */
export async function delegationProbes(o: DriftOptions): Promise<Probe[]> {
  const timeoutMs = timeoutOf(o);
  const resolver = o.nsLookup?.[0] ?? new Resolver().getServers()[0];
  return o.plan.zones
    .filter((z) => z.records.some((r) => r.type === "TLSA"))
    .map((z) => {
      const at = { area: "dns" as const, subject: z.name, check: "DS at the parent" };
      return probe(at, async () => {
        const [server] = await withTimeout(authoritativeServers(z, o.plan.hosts, o.nsLookup), timeoutMs, `name servers of ${z.name}`);
        const [keys, ds] = await Promise.all([
          queryRecord(server, z.name, "DNSKEY", timeoutMs),
          queryRecord(resolver, z.name, "DS", timeoutMs, { recursive: true }),
        ]);
        for (const [a, what] of [
          [keys, `DNSKEY at ${server}`],
          [ds, `DS at ${resolver}`],
        ] as const)
          if (a.status !== "answer" && a.status !== "nodata") throw new Error(`${z.name} ${what}: ${a.status}`);
        const problem = delegationProblem(z.name, keys.values, ds.values);
        const expected = keys.values.length ? "a DS matching the zone's key-signing key" : "no DS (the zone is not signed)";
        return [compared(at, !problem, expected, problem ?? `DS ${ds.values.map((d) => d.split(" ")[0]).join(", ") || "none"}`)];
      });
    });
}

/** Records in on-prem zones that the plan does not know: per DNS server, one zone transfer per zone, in one round trip. */
export function unmanagedRecordProbes(o: DriftOptions): Probe[] {
  const { session, tsig } = o;
  if (!session || !tsig) return [];
  const onPrem = o.plan.zones.filter((z) => z.provider === "bind" && z.server);
  return [...new Set(onPrem.map((z) => z.server!))].map((server) => {
    const zones = onPrem.filter((z) => z.server === server);
    const timeoutMs = timeoutOf(o);
    return probe({ area: "dns", subject: zones.map((z) => z.name).join(", "), check: "unmanaged records" }, async () => {
      const address = o.inventory.hosts[server]!.address;
      const targets = zones.map((z) => ({ zone: z.name, server: z.serverAddress ?? "127.0.0.1", tsig }));
      const [live, ns] = await Promise.all([
        withTimeout(
          session(server).then((s) => readZones(s, targets)),
          timeoutMs * 4,
          `zone transfers from ${server}`,
        ),
        Promise.all(zones.map((z) => queryRecord(address, z.name, "NS", timeoutMs))),
      ]);
      return zones.flatMap((z, i): Finding[] => {
        // The zone's own name servers' addresses (glue) belong to the DNS server, not to the plan.
        const known = new Set([...z.records.map(recordSetKey), ...ns[i].values.map((n) => `${n} A`)]);
        const extra = live[i].filter((r) => !known.has(recordSetKey(r)));
        return unmanagedFindings(
          z.name,
          extra.map((r) => `${recordSetKey(r)} ${recordText(r.ttl, r.values)}`),
        );
      });
    });
  });
}

/** A zone's unmanaged record sets ("name TYPE ttl values") as notes: listed, left alone, not drift. Pure. */
function unmanagedFindings(zone: string, sets: string[]): Finding[] {
  if (!sets.length) return [{ area: "dns", subject: zone, check: "unmanaged records", status: "ok" }];
  return sets.map((set) => {
    const [name, type, ...rest] = set.split(" ");
    return {
      area: "dns",
      subject: zone,
      check: `${name} ${type}`,
      status: "note",
      expected: "(not in the plan)",
      actual: `unmanaged: ${rest.join(" ")}`,
    };
  });
}

/**
 * Records in existing Route 53 and Cloudflare zones that the plan does not manage: the program lists
 * them with the providers' own listings (getRecords, getDnsRecords) in one engine preview. A zone
 * the listing does not answer for could not be checked.
 */
export function cloudUnmanagedProbes(o: DriftOptions): Probe[] {
  const list = o.cloudListing;
  const zones = o.plan.zones.filter((z) => (z.provider === "route53" && !z.create) || z.provider === "cloudflare");
  if (!list || !zones.length) return [];
  const at = { area: "dns" as const, subject: zones.map((z) => z.name).join(", "), check: "unmanaged records" };
  return [
    probe(at, async () => {
      const listed = await list();
      return zones.flatMap((z) =>
        listed[z.name]
          ? unmanagedFindings(z.name, listed[z.name])
          : [
              {
                area: "dns" as const,
                subject: z.name,
                check: "unmanaged records",
                status: "unreachable" as const,
                actual: "the provider's listing gave nothing for this zone",
              },
            ],
      );
    }),
  ];
}

/** mx strategy: what each resolver still holds for the MX records, against what is authoritative. */
export function resolverProbes(o: DriftOptions): Probe[] {
  const p = o.plan;
  if (p.gateway.strategy !== "mx") return [];
  const mx = p.zones.flatMap((z) => z.records.filter((r) => r.type === "MX"));
  return (o.resolvers ?? []).flatMap((resolver) =>
    mx.map((r) => {
      const at = { area: "resolver" as const, subject: resolver, check: `${r.name} MX` };
      return probe(at, async () => {
        const a = await queryRecord(resolver, r.name, "MX", timeoutOf(o));
        const ok = a.values.join(",") === [...r.values].sort().join(",");
        const actual = ok ? a.values.join(", ") : `${a.values.join(", ") || a.status} for up to ${a.ttl ?? "?"} s more`;
        return [compared(at, ok, r.values.join(", "), actual)];
      });
    }),
  );
}
