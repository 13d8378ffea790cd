/**
 * The drift check: the plan of the stack's phase against the live world. Pulumi's refresh sees only
 * what the stack manages; this also asks the authoritative DNS servers (values, TTLs, records the
 * plan does not know), resolvers (for the mx strategy), the hosts over SSH (routing, names, who
 * holds the service address) and the gateway over SMTP (greeting, name, open relay, STARTTLS).
 * Every probe has a timeout and they run with bounded parallelism; a probe that cannot reach its
 * server is reported as such, never as clean.
 */
import { Resolver } from "node:dns/promises";
import type { HostRole, Inventory } from "../model/inventory";
import type { Plan } from "../model/plan";
import { type DnsRecord, recordSetKey } from "../model/records";
import { type HostRouting, hostRouting, routingDigest } from "../model/routing";
import { readIdentity } from "../remote/effects/identity";
import { readRouting } from "../remote/effects/routing";
import { readZones, type Tsig } from "../remote/effects/zone";
import type { HostSession } from "../remote/ssh";
import { queryRecord } from "./dns-query";
import { SmtpDialogue } from "./smtp-dialogue";

export type FindingStatus = "ok" | "drift" | "unreachable";

export interface Finding {
  area: "engine" | "dns" | "resolver" | "host" | "smtp";
  /** The server, host or zone the finding is about. */
  subject: string;
  /** What was checked: "mail.example.com A", "routing", "banner"... */
  check: string;
  status: FindingStatus;
  expected?: string;
  actual?: string;
}

export interface DriftReport {
  stack: string;
  phase: number;
  startedAt: string;
  seconds: number;
  findings: Finding[];
  /** 0 clean, 1 drift, 2 could not check everything (an unreachable server is never clean). */
  exitCode: 0 | 1 | 2;
}

export interface DriftOptions {
  stack: string;
  plan: Plan;
  inventory: Inventory;
  /** SSH sessions to the stack's hosts reached by SSH (routing, names, AXFR of on-prem zones). */
  session?: (role: HostRole) => Promise<HostSession>;
  /** TSIG key of the on-prem DNS server, for the zone transfer that finds unmanaged records. */
  tsig?: Tsig;
  /** The engine's refresh preview: resources whose live state differs from the stack's state. */
  engine?: () => Promise<{ changed: string[] }>;
  /** Resolvers that find the name servers of Route 53 and Cloudflare zones; default the system's. */
  nsLookup?: string[];
  /** Resolvers to compare with the authoritative answer (mx strategy); none: skipped. */
  resolvers?: string[];
  /** Whether the gateway must offer STARTTLS. */
  starttls?: boolean;
  concurrency?: number;
  timeoutMs?: number;
}

/** Runs the tasks with at most `limit` at a time, in order of the list. */
export async function bounded<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

/** Rejects after ms with a message naming what timed out. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

const recordText = (ttl: number | undefined, values: string[]) => (values.length ? `${ttl ?? "?"} ${values.join(", ")}` : "(none)");

/**
 * The addresses of the servers authoritative for a zone: the on-prem server's host, as the
 * inventory says; for Route 53 and Cloudflare zones, the zone's NS records and their addresses as
 * the resolvers (`lookup`, default the system's) see them.
 */
async function authoritativeServers(p: Plan, inv: Inventory, zone: string, lookup: string[] | undefined): Promise<string[]> {
  const z = p.zones.find((x) => x.name === zone)!;
  if (z.provider === "bind" && z.server) return [inv.hosts[z.server]!.address];
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  if (lookup?.length) resolver.setServers(lookup);
  const names = await resolver.resolveNs(zone);
  const addresses = (await Promise.all(names.map((n) => resolver.resolve4(n).catch(() => [] as string[])))).flat();
  if (!addresses.length) throw new Error(`none of the name servers of ${zone} (${names.join(", ")}) has an address`);
  return [...new Set(addresses)].sort();
}

/** The differing entries of two routing tables, the first few of each kind. Pure. */
export function routingDifferences(want: HostRouting, have: HostRouting, limit = 5): string[] {
  const out: string[] = [];
  const compare = (what: string, a: string[], b: string[]) => {
    const [sa, sb] = [new Set(a), new Set(b)];
    const missing = a.filter((x) => !sb.has(x));
    const extra = b.filter((x) => !sa.has(x));
    if (missing.length)
      out.push(`${what} missing: ${missing.slice(0, limit).join(", ")}${missing.length > limit ? ` (+${missing.length - limit})` : ""}`);
    if (extra.length)
      out.push(`${what} not planned: ${extra.slice(0, limit).join(", ")}${extra.length > limit ? ` (+${extra.length - limit})` : ""}`);
  };
  compare("domains", want.domains, have.domains);
  compare("mailboxes", want.mailboxes, have.mailboxes);
  compare(
    "relays",
    want.relays.map((r) => `${r.recipient}->${r.nextHop}`),
    have.relays.map((r) => `${r.recipient}->${r.nextHop}`),
  );
  compare("trusted", want.trusted, have.trusted);
  return out;
}

export async function checkDrift(o: DriftOptions): Promise<DriftReport> {
  const started = Date.now();
  const timeoutMs = o.timeoutMs ?? 5000;
  const limit = o.concurrency ?? 32;
  const p = o.plan;
  const tasks: (() => Promise<Finding[]>)[] = [];
  const unreachable = (area: Finding["area"], subject: string, check: string, e: unknown): Finding[] => [
    { area, subject, check, status: "unreachable", actual: (e as Error).message.split("\n")[0] },
  ];

  // The engine: resources whose live state differs from what the stack recorded.
  if (o.engine) {
    const engine = o.engine;
    tasks.push(async () => {
      try {
        const r = await engine();
        return r.changed.length
          ? r.changed.map((name) => ({
              area: "engine" as const,
              subject: name,
              check: "refresh",
              status: "drift" as const,
              expected: "as the stack recorded",
              actual: "changed on the live system",
            }))
          : [{ area: "engine", subject: o.stack, check: "refresh", status: "ok" }];
      } catch (e) {
        return unreachable("engine", o.stack, "refresh", e);
      }
    });
  }

  // Live DNS: every planned record at every authoritative server.
  const dnsFindings: Finding[] = [];
  await Promise.all(
    p.zones.map(async (z) => {
      let servers: string[];
      try {
        servers = await withTimeout(authoritativeServers(p, o.inventory, z.name, o.nsLookup), timeoutMs, `name servers of ${z.name}`);
      } catch (e) {
        dnsFindings.push(...unreachable("dns", z.name, "authoritative servers", e));
        return;
      }
      for (const server of servers) {
        for (const r of z.records) {
          tasks.push(async () => {
            const check = recordSetKey(r);
            try {
              const a = await queryRecord(server, r.name, r.type, timeoutMs);
              const want = recordText(r.ttl, [...r.values].sort());
              const have = recordText(a.ttl, a.values);
              const ok = a.status === "answer" && a.authoritative && want === have;
              return [
                {
                  area: "dns",
                  subject: `${z.name} @${server}`,
                  check,
                  status: ok ? "ok" : "drift",
                  expected: want,
                  actual: a.status === "answer" ? `${have}${a.authoritative ? "" : " (not authoritative)"}` : a.status,
                },
              ];
            } catch (e) {
              return unreachable("dns", `${z.name} @${server}`, check, e);
            }
          });
        }
      }
    }),
  );
  tasks.push(async () => dnsFindings);

  // Records in on-prem zones that the plan does not know: one zone transfer per zone, one dig, one round trip.
  const onPrem = p.zones.filter((z) => z.provider === "bind" && z.server);
  for (const server of [...new Set(onPrem.map((z) => z.server!))]) {
    const zones = onPrem.filter((z) => z.server === server);
    if (!o.session || !o.tsig) continue;
    const [session, tsig] = [o.session, o.tsig];
    tasks.push(async () => {
      try {
        const address = o.inventory.hosts[server]!.address;
        const [live, ns] = await Promise.all([
          withTimeout(
            session(server).then((s) =>
              readZones(
                s,
                zones.map((z) => ({ zone: z.name, server: z.serverAddress ?? "127.0.0.1", tsig })),
              ),
            ),
            timeoutMs * 4,
            `zone transfers from ${server}`,
          ),
          Promise.all(zones.map((z) => queryRecord(address, z.name, "NS", timeoutMs))),
        ]);
        return zones.flatMap((z, i): Finding[] => {
          // The zone's own name servers' addresses (glue) belong to the DNS server, not to the plan.
          const known = new Set([...z.records.map(recordSetKey), ...ns[i].values.map((n) => `${n} A`)]);
          const extra = live[i].filter((r: DnsRecord) => !known.has(recordSetKey(r)));
          return extra.length
            ? extra.map(
                (r: DnsRecord): Finding => ({
                  area: "dns",
                  subject: z.name,
                  check: recordSetKey(r),
                  status: "drift",
                  expected: "(not in the plan)",
                  actual: `unmanaged: ${recordText(r.ttl, r.values)}`,
                }),
              )
            : [{ area: "dns", subject: z.name, check: "unmanaged records", status: "ok" }];
        });
      } catch (e) {
        return unreachable("dns", zones.map((z) => z.name).join(", "), "unmanaged records", e);
      }
    });
  }

  // mx strategy: what resolvers still hold against what is authoritative.
  if (p.gateway.strategy === "mx") {
    for (const resolver of o.resolvers ?? []) {
      for (const z of p.zones) {
        for (const r of z.records.filter((x) => x.type === "MX")) {
          tasks.push(async () => {
            try {
              const a = await queryRecord(resolver, r.name, "MX", timeoutMs);
              const ok = a.values.join(",") === [...r.values].sort().join(",");
              return [
                {
                  area: "resolver",
                  subject: resolver,
                  check: `${r.name} MX`,
                  status: ok ? "ok" : "drift",
                  expected: r.values.join(", "),
                  actual: ok ? a.values.join(", ") : `${a.values.join(", ") || a.status} for up to ${a.ttl ?? "?"} s more`,
                },
              ];
            } catch (e) {
              return unreachable("resolver", resolver, `${r.name} MX`, e);
            }
          });
        }
      }
    }
  }

  // Hosts over SSH: routing tables, names, who holds the service address.
  if (o.session) {
    const session = o.session;
    for (const t of p.routing) {
      if (o.inventory.hosts[t.host]?.kind !== "existing") continue;
      tasks.push(async () => {
        try {
          const live = await withTimeout(session(t.host).then(readRouting), timeoutMs * 2, `routing on ${t.host}`);
          const want = routingDigest(t);
          if (live.digest === want && Object.keys(live.parameters).length === 0)
            return [
              { area: "host", subject: t.host, check: "routing", status: "ok", expected: want.slice(0, 16), actual: want.slice(0, 16) },
            ];
          const diffs = live.routing ? routingDifferences(hostRouting(t), live.routing) : ["cutover's maps are not configured"];
          const params = Object.entries(live.parameters).map(([k, v]) => `${k} = ${v}`);
          return [
            {
              area: "host",
              subject: t.host,
              check: "routing",
              status: "drift",
              expected: want.slice(0, 16),
              actual: `${(live.digest ?? "none").slice(0, 16)}: ${[...diffs, ...params].join("; ")}`,
            },
          ];
        } catch (e) {
          return unreachable("host", t.host, "routing", e);
        }
      });
    }
    const identityHosts = p.hosts.filter(
      (h) => (h.role === "legacy" || h.role === "new") && o.inventory.hosts[h.role]?.kind === "existing",
    );
    for (const h of identityHosts) {
      const spec = o.inventory.hosts[h.role]!;
      const service = {
        address: p.gateway.service.address,
        prefixLength: p.gateway.service.prefixLength,
        interface: spec.kind === "existing" ? spec.interface : "eth0",
      };
      tasks.push(async () => {
        try {
          const live = await withTimeout(
            session(h.role).then((s) => readIdentity(s, service)),
            timeoutMs * 2,
            `identity of ${h.role}`,
          );
          const shouldHold = h.role === p.gateway.service.holder;
          return [
            {
              area: "host",
              subject: h.role,
              check: "host name",
              status: live.hostName === h.name ? "ok" : "drift",
              expected: h.name,
              actual: live.hostName,
            },
            {
              area: "host",
              subject: h.role,
              check: `holds ${service.address}`,
              status: live.holdsServiceAddress === shouldHold ? "ok" : "drift",
              expected: shouldHold ? "holds it" : "does not hold it",
              actual: live.holdsServiceAddress ? "holds it" : "does not hold it",
            },
          ];
        } catch (e) {
          return unreachable("host", h.role, "identity", e);
        }
      });
    }
  }

  // Live SMTP on the gateway address: greeting, the answering server's name, relay, STARTTLS.
  const gateway = p.gateway.address;
  const answering = p.hosts.find((h) => h.role === p.gateway.holder);
  tasks.push(async () => {
    const subject = `${gateway}:25`;
    let d: SmtpDialogue | undefined;
    try {
      d = await SmtpDialogue.open(gateway, 25, timeoutMs);
      const findings: Finding[] = [];
      const banner = d.greeting.replace(/^220[ -]/, "").split(/\s+/)[0] ?? "";
      findings.push({
        area: "smtp",
        subject,
        check: "banner",
        status: banner === p.gateway.hostName ? "ok" : "drift",
        expected: p.gateway.hostName,
        actual: banner,
      });
      const ehlo = await d.command("EHLO drift-check.invalid");
      const server = ehlo.lines[0]?.replace(/^250[ -]/, "").split(/\s+/)[0] ?? "";
      if (answering)
        findings.push({
          area: "smtp",
          subject,
          check: "answering server",
          status: server === answering.ownName ? "ok" : "drift",
          expected: answering.ownName,
          actual: server,
        });
      const tls = ehlo.lines.some((l) => /^250[ -]STARTTLS/i.test(l));
      if (o.starttls)
        findings.push({
          area: "smtp",
          subject,
          check: "STARTTLS",
          status: tls ? "ok" : "drift",
          expected: "offered",
          actual: tls ? "offered" : "not offered",
        });
      await d.command("MAIL FROM:<drift-check@relay-test.invalid>");
      const rcpt = await d.command("RCPT TO:<relay-probe@elsewhere.invalid>");
      const open = /^2/.test(rcpt.code);
      findings.push({
        area: "smtp",
        subject,
        check: "open relay",
        status: open ? "drift" : "ok",
        expected: "relay refused",
        actual: open ? `accepted: ${rcpt.lines.at(-1)}` : `refused: ${rcpt.lines.at(-1)}`,
      });
      return findings;
    } catch (e) {
      return unreachable("smtp", subject, "greeting", e);
    } finally {
      await d?.close();
    }
  });

  const findings = (await bounded(tasks, limit)).flat();
  const exitCode = findings.some((f) => f.status === "unreachable") ? 2 : findings.some((f) => f.status === "drift") ? 1 : 0;
  return {
    stack: o.stack,
    phase: p.phase,
    startedAt: new Date(started).toISOString(),
    seconds: (Date.now() - started) / 1000,
    findings,
    exitCode,
  };
}

/** A table for people: what is not ok first, then a count of what is. Pure. */
export function renderDriftTable(r: DriftReport): string {
  const bad = r.findings.filter((f) => f.status !== "ok");
  const ok = r.findings.length - bad.length;
  const rows = bad.map((f) => [f.status.toUpperCase(), f.area, f.subject, f.check, f.expected ?? "", f.actual ?? ""]);
  const head = ["status", "area", "subject", "check", "expected", "actual"];
  const widths = head.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((c) => c[i].length))));
  const line = (c: string[]) => c.map((x, i) => (x.length > widths[i] ? `${x.slice(0, widths[i] - 1)}…` : x.padEnd(widths[i]))).join("  ");
  const verdict = ["clean", "DRIFT", "COULD NOT CHECK EVERYTHING"][r.exitCode];
  return [
    ...(rows.length ? [line(head), ...rows.map(line), ""] : []),
    `${verdict}: stack ${r.stack} (phase ${r.phase}), ${r.findings.length} checks, ${ok} ok, ${r.findings.filter((f) => f.status === "drift").length} drift, ${r.findings.filter((f) => f.status === "unreachable").length} unreachable, ${r.seconds.toFixed(2)} s`,
  ].join("\n");
}

/** The Markdown summary (a GitHub job summary). Pure. */
export function renderDriftMarkdown(r: DriftReport): string {
  const bad = r.findings.filter((f) => f.status !== "ok");
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  const verdict = ["✅ clean", "❌ drift", "⚠️ could not check everything"][r.exitCode];
  return [
    `## Drift check: ${r.stack} (phase ${r.phase})`,
    "",
    `${verdict}: ${r.findings.length} checks, ${r.findings.length - bad.length} ok, in ${r.seconds.toFixed(2)} s (${r.startedAt}).`,
    ...(bad.length
      ? [
          "",
          "| status | area | subject | check | expected | actual |",
          "|---|---|---|---|---|---|",
          ...bad.map(
            (f) => `| ${f.status} | ${f.area} | ${esc(f.subject)} | ${esc(f.check)} | ${esc(f.expected ?? "")} | ${esc(f.actual ?? "")} |`,
          ),
        ]
      : []),
    "",
  ].join("\n");
}
