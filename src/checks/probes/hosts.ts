/** The hosts over SSH: each routing table, each gateway's name, and who holds the service address. */
import { type HostRouting, hostRouting, routingDigest } from "../../model/routing";
import { persistedDifferences, readIdentity, takesSessions } from "../../remote/effects/identity";
import { baselineDifferences, readBaseline } from "../../remote/effects/postfix-baseline";
import { readRouting } from "../../remote/effects/routing";
import { liveRoutes, plannedAddresses, plannedRoutes, routeDifferences } from "../routes";
import { compared, type DriftOptions, type Probe, probe, timeoutOf, withTimeout } from "./common";

/** The differing entries of two routing tables, the first few of each kind. Pure. */
export function routingDifferences(want: HostRouting, have: HostRouting, limit = 5): string[] {
  const out: string[] = [];
  const compare = (what: string, a: string[], b: string[]) => {
    const [sa, sb] = [new Set(a), new Set(b)];
    const missing = a.filter((x) => !sb.has(x));
    const extra = b.filter((x) => !sa.has(x));
    const some = (xs: string[]) => `${xs.slice(0, limit).join(", ")}${xs.length > limit ? ` (+${xs.length - limit})` : ""}`;
    if (missing.length) out.push(`${what} missing: ${some(missing)}`);
    if (extra.length) out.push(`${what} not planned: ${some(extra)}`);
  };
  compare("domains", want.domains, have.domains);
  compare("mailboxes", want.mailboxes, have.mailboxes);
  const relay = (r: HostRouting["relays"][number]) => `${r.recipient}->${r.nextHop}`;
  compare("relays", want.relays.map(relay), have.relays.map(relay));
  compare("trusted", want.trusted, have.trusted);
  compare("relay recipients", want.relayRecipients ?? [], have.relayRecipients ?? []);
  if ((want.relayHost ?? "") !== (have.relayHost ?? ""))
    out.push(`relayhost = ${have.relayHost ?? "(none)"}, planned ${want.relayHost ?? "none (direct delivery by MX)"}`);
  return out;
}

/** Without SSH sessions the host checks cannot run: one finding says so, never a clean report without them. */
export function hostAccessProbes(o: DriftOptions): Probe[] {
  if (o.session || !o.plan.routing.length) return [];
  const why = o.sessionUnavailable ?? "no SSH session to the stack's hosts";
  return [
    async () => [
      {
        area: "host",
        subject: o.stack,
        check: "hosts over SSH",
        status: "unreachable",
        expected: "routing, names, the service address and postfix read on each host",
        actual: `could not check: ${why}`,
      },
    ],
  ];
}

/** Each routing table of a host reached by SSH, against the plan's (content digest, then the differences). */
export function routingProbes(o: DriftOptions): Probe[] {
  const session = o.session;
  if (!session) return [];
  return o.plan.routing.map((t) => {
    const at = { area: "host" as const, subject: t.host, check: "routing" };
    return probe(at, async () => {
      const live = await withTimeout(session(t.host).then(readRouting), timeoutOf(o) * 2, `routing on ${t.host}`);
      const want = routingDigest(t);
      if (live.digest === want && Object.keys(live.parameters).length === 0)
        return [compared(at, true, want.slice(0, 16), want.slice(0, 16))];
      const diffs = live.routing ? routingDifferences(hostRouting(t), live.routing) : ["cutover's maps are not configured"];
      const params = Object.entries(live.parameters).map(([k, v]) => `${k} = ${v}`);
      // Routing is where mail goes: any difference in it is mail flow.
      return [
        {
          ...compared(at, false, want.slice(0, 16), `${(live.digest ?? "none").slice(0, 16)}: ${[...diffs, ...params].join("; ")}`),
          severity: "mail flow" as const,
        },
      ];
    });
  });
}

/**
 * Every address's route on each routed host, as its live postfix would take it (its own lookup
 * tables, no message sent), against the plan's table: a finding per host naming the addresses that
 * differ. The routing digest above says that a table differs; this says for whom, and where their
 * mail goes instead.
 */
export function routeProbes(o: DriftOptions): Probe[] {
  const session = o.session;
  if (!session) return [];
  const addresses = plannedAddresses(o.plan);
  return o.plan.routing.map((t) => {
    const at = { area: "host" as const, subject: t.host, check: "every user's route" };
    return probe(at, async () => {
      const planned = plannedRoutes(t, addresses);
      const live = await withTimeout(
        session(t.host).then((s) => liveRoutes(s, [...planned.keys()])),
        timeoutOf(o) * 4,
        `routes on ${t.host}`,
      );
      const differing = routeDifferences(t.host, planned, live);
      const shown = differing.slice(0, 5).join("; ") + (differing.length > 5 ? `; and ${differing.length - 5} more` : "");
      return [
        {
          ...compared(
            at,
            differing.length === 0,
            `${planned.size} addresses routed as planned`,
            differing.length ? shown : `${planned.size} addresses routed as planned`,
          ),
          ...(differing.length ? { severity: "mail flow" as const } : {}),
        },
      ];
    });
  });
}

/** Each gateway's greeting name, and whether it holds the service address as the plan says. */
export function identityProbes(o: DriftOptions): Probe[] {
  const session = o.session;
  if (!session) return [];
  const { service } = o.plan.gateway;
  return o.plan.hosts.flatMap((h) => {
    const spec = o.inventory.hosts[h.role];
    if ((h.role !== "legacy" && h.role !== "new") || !spec) return [];
    // With an Elastic IP the cloud holds the address (the engine's refresh checks the association);
    // the host's own part is its name.
    const address =
      spec.kind === "existing"
        ? { address: service.address, prefixLength: service.prefixLength, interface: spec.interface }
        : { address: spec.address, prefixLength: 32 };
    return [
      probe({ area: "host", subject: h.role, check: "identity" }, async () => {
        const live = await withTimeout(
          session(h.role).then((s) => readIdentity(s, address)),
          timeoutOf(o) * 2,
          `identity of ${h.role}`,
        );
        const holding = (holds: boolean) => (holds ? "holds it" : "does not hold it");
        const shouldHold = h.role === service.holder;
        const name = compared({ area: "host", subject: h.role, check: "host name" }, live.hostName === h.name, h.name, live.hostName);
        // A host that is to take sessions on the address but drops new ones: a release's guard left
        // in place, which the next apply of the identity removes.
        const open = takesSessions({ holdsServiceAddress: shouldHold, service: address })
          ? [
              compared(
                { area: "host", subject: h.role, check: `new SMTP sessions to ${address.address}` },
                !live.closedToNewSessions,
                "let in",
                `dropped by a release's guard left in place (nftables table ip cutover_release); run the phase again to remove it`,
              ),
            ]
          : [];
        // What the host would come back with after a reboot: its own configuration, not only what it runs.
        const differ = persistedDifferences(live, spec.kind === "existing" ? shouldHold : undefined);
        const persisted = compared(
          { area: "host", subject: h.role, check: "persisted configuration (after a reboot)" },
          differ.length === 0,
          "as it runs",
          `runtime and persisted configuration differ: ${differ.join("; ")}; run the phase again to write it`,
        );
        if (spec.kind !== "existing") return [name, ...open, persisted];
        return [
          name,
          ...open,
          persisted,
          compared(
            { area: "host", subject: h.role, check: `holds ${service.address}` },
            live.holdsServiceAddress === shouldHold,
            holding(shouldHold),
            holding(live.holdsServiceAddress),
          ),
        ];
      }),
    ];
  });
}

/**
 * Each host's whole postfix against the baseline its last update recorded: every main.cf setting,
 * master.cf service and map that differs, owned by cutover or not, with its severity.
 */
export function baselineProbes(o: DriftOptions): Probe[] {
  const [session, baselines] = [o.session, o.baselines];
  if (!session || !baselines) return [];
  const recorded = baselines();
  return o.plan.routing.map((t) => {
    const at = { area: "host" as const, subject: t.host, check: "postfix since the last update" };
    return probe(at, async () => {
      const before = (await recorded)[t.host];
      if (!before)
        return [{ ...at, status: "note", actual: "no baseline recorded yet: the next update that configures this host records it" }];
      const live = await withTimeout(session(t.host).then(readBaseline), timeoutOf(o) * 2, `postfix settings on ${t.host}`);
      const differences = baselineDifferences(before, live);
      if (!differences.length) return [{ ...at, status: "ok" }];
      return differences.map((d) => ({
        area: "host" as const,
        subject: t.host,
        check: d.what,
        status: "drift" as const,
        severity: d.severity,
        expected: d.recorded,
        actual: d.live,
      }));
    });
  });
}
