/**
 * The offline preview: plan(current) against plan(n), with no engine and no credentials. Records,
 * routing entries and the gateway identity, each added, changed or removed, and the changes large
 * enough to need --force in the phase command: any NS change; and, within one phase (an edited
 * inventory or mailbox file, not a phase transition, whose changes are the design), more than 30%
 * of the records of a zone that both plans have.
 */
import type { Plan } from "./plan";
import { recordSetKey, recordSetValue } from "./records";
import { hostRouting } from "./routing";

export type ChangeKind = "added" | "changed" | "removed";

export interface PlanChange {
  /** "record", "routing" or "gateway". */
  area: "record" | "routing" | "gateway";
  kind: ChangeKind;
  /** Where: the zone, the host, or "gateway". */
  scope: string;
  /** What: "name TYPE", "mailbox user@x", "relay user@x", "holder"... */
  item: string;
  before?: string;
  after?: string;
}

export interface LargeChange {
  scope: string;
  reason: string;
}

export interface PlanDiff {
  /** What the plan is compared with, when not the plan of phase `from` ("what the last update deployed"). */
  fromLabel?: string;
  from: number;
  to: number;
  changes: PlanChange[];
  large: LargeChange[];
}

/** A zone's share of changed records above which the change is flagged. */
export const LARGE_ZONE_SHARE = 0.3;

function diffMaps(
  before: Map<string, string>,
  after: Map<string, string>,
  make: (kind: ChangeKind, key: string, b?: string, a?: string) => PlanChange,
): PlanChange[] {
  const out: PlanChange[] = [];
  for (const [k, a] of after) {
    const b = before.get(k);
    if (b === undefined) out.push(make("added", k, undefined, a));
    else if (b !== a) out.push(make("changed", k, b, a));
  }
  for (const [k, b] of before) if (!after.has(k)) out.push(make("removed", k, b, undefined));
  return out;
}

/** Everything that differs between two plans, and what of it is large. Pure. */
export function diffPlans(a: Plan, b: Plan): PlanDiff {
  const changes: PlanChange[] = [];
  const large: LargeChange[] = [];
  const zones = [...new Set([...a.zones, ...b.zones].map((z) => z.name))].sort();
  for (const zone of zones) {
    const records = (p: Plan) =>
      new Map((p.zones.find((z) => z.name === zone)?.records ?? []).map((r) => [recordSetKey(r), recordSetValue(r)] as const));
    const [before, after] = [records(a), records(b)];
    const zoneChanges = diffMaps(before, after, (kind, item, bv, av) => ({
      area: "record",
      kind,
      scope: zone,
      item,
      ...(bv ? { before: bv } : {}),
      ...(av ? { after: av } : {}),
    }));
    changes.push(...zoneChanges);
    const base = Math.max(before.size, after.size, 1);
    if (a.phase === b.phase && before.size && after.size && zoneChanges.length / base > LARGE_ZONE_SHARE)
      large.push({
        scope: zone,
        reason: `${zoneChanges.length} of ${base} records change (${Math.round((zoneChanges.length / base) * 100)}% > ${LARGE_ZONE_SHARE * 100}%)`,
      });
    const ns = zoneChanges.filter((c) => c.item.endsWith(" NS"));
    if (ns.length) large.push({ scope: zone, reason: `NS records change: ${ns.map((c) => `${c.item} ${c.kind}`).join(", ")}` });
  }
  const hosts = [...new Set([...a.routing, ...b.routing].map((t) => t.host))].sort();
  for (const host of hosts) {
    const entries = (p: Plan) => {
      const t = p.routing.find((x) => x.host === host);
      const m = new Map<string, string>();
      if (!t) return m;
      const r = hostRouting(t);
      for (const d of r.domains) m.set(`domain ${d}`, "accepted");
      for (const x of r.mailboxes) m.set(`mailbox ${x}`, "local");
      for (const x of r.relays) m.set(`relay ${x.recipient}`, x.nextHop);
      for (const x of r.trusted) m.set(`trusted ${x}`, "relay allowed");
      return m;
    };
    changes.push(
      ...diffMaps(entries(a), entries(b), (kind, item, bv, av) => ({
        area: "routing",
        kind,
        scope: host,
        item,
        ...(bv ? { before: bv } : {}),
        ...(av ? { after: av } : {}),
      })),
    );
  }
  for (const key of ["holder", "hostName", "address"] as const) {
    if (a.gateway[key] !== b.gateway[key])
      changes.push({
        area: "gateway",
        kind: "changed",
        scope: "gateway",
        item: key,
        before: String(a.gateway[key]),
        after: String(b.gateway[key]),
      });
  }
  return { from: a.phase, to: b.phase, changes, large };
}

/** A readable table: per area and scope, counts, then the first entries of each. Pure. */
export function renderPlanDiff(d: PlanDiff, perScope = 8): string {
  const from = d.fromLabel ?? `plan of phase ${d.from}`;
  if (!d.changes.length) return `${from} -> phase ${d.to}: no changes`;
  const lines = [`${from} -> phase ${d.to}: ${d.changes.length} changes`];
  const groups = new Map<string, PlanChange[]>();
  for (const c of d.changes) groups.set(`${c.area} ${c.scope}`, [...(groups.get(`${c.area} ${c.scope}`) ?? []), c]);
  for (const [group, cs] of groups) {
    const count = (k: ChangeKind) => cs.filter((c) => c.kind === k).length;
    lines.push(`  ${group}: ${count("added")} added, ${count("changed")} changed, ${count("removed")} removed`);
    for (const c of cs.slice(0, perScope)) {
      const sign = c.kind === "added" ? "+" : c.kind === "removed" ? "-" : "~";
      lines.push(`    ${sign} ${c.item.padEnd(40)} ${c.kind === "changed" ? `${c.before} -> ${c.after}` : (c.after ?? c.before ?? "")}`);
    }
    if (cs.length > perScope) lines.push(`    ... ${cs.length - perScope} more`);
  }
  for (const l of d.large) lines.push(`  LARGE CHANGE in ${l.scope}: ${l.reason} (the phase command needs --force)`);
  return lines.join("\n");
}
