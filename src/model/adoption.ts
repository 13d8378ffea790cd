/**
 * The organisation's records at the names cutover plans, adopted rather than overwritten: what a
 * name held before cutover first wrote it (its original) is kept; a name of a type one owner holds
 * (MX, A, CNAME, TLSA) is written as planned; a TXT name is shared with whoever else keeps values
 * there, with one SPF record merged; leaving, a name gets its original back. Every DNS provider
 * applies the same rules: the on-prem zone effect and the cloud zones of the program. Pure.
 */
import { type DnsRecord, isSpf, mergeSpf, recordSetKey, sameSet } from "./records";

/**
 * Why the live zone cannot take the planned sets without breaking or losing something, one line
 * each: a planned TXT name that holds two SPF records (SPF fails for every message, RFC 7208 3.2),
 * or a CNAME at a name where another type is planned (a CNAME holds nothing beside it, RFC 1034
 * 3.6.2). Pure.
 */
export function adoptionConflicts(zone: string, desired: DnsRecord[], live: DnsRecord[]): string[] {
  const conflicts: string[] = [];
  for (const r of desired) {
    const cname = live.find((l) => l.name === r.name && l.type === "CNAME");
    if (cname && r.type !== "CNAME")
      conflicts.push(
        `zone ${zone}: ${r.name} is a CNAME to ${cname.values[0]}, and cutover plans a ${r.type} record there (a name with a CNAME holds nothing else, RFC 1034 3.6.2): remove the CNAME, or give the gateway another label`,
      );
    const spf = r.type === "TXT" ? (live.find((l) => recordSetKey(l) === recordSetKey(r))?.values.filter(isSpf) ?? []) : [];
    if (spf.length > 1)
      conflicts.push(
        `zone ${zone}: ${r.name} holds ${spf.length} SPF records (${spf.map((v) => JSON.stringify(v)).join(", ")}): SPF fails for every message (RFC 7208 3.2), and cutover cannot tell which one to merge; keep one in the zone, then run the phase again`,
      );
  }
  return conflicts;
}

/** The values of a TXT set that others keep at the name: live, not SPF, neither planned nor written by cutover before. Pure. */
function othersValues(live: DnsRecord | undefined, planned: DnsRecord | undefined, ours: DnsRecord | undefined): string[] {
  const cutovers = new Set([...(planned?.values ?? []), ...(ours?.values ?? [])]);
  return (live?.values ?? []).filter((v) => !isSpf(v) && !cutovers.has(v));
}

/**
 * The sets to write for the planned ones over the live zone. A set of a type one owner holds (MX, A,
 * CNAME, TLSA) is written as planned; the original stays recorded for the way back. A TXT name is
 * shared: the plan's values, the values others keep there (not SPF, not written by cutover before:
 * `ours`), and one SPF record, the plan's merged with the original's terms (the organisation's own
 * SPF keeps its includes and its ending). Pure.
 */
export function adoptedSets(desired: DnsRecord[], live: DnsRecord[], original: DnsRecord[], ours: DnsRecord[] = []): DnsRecord[] {
  const at = (list: DnsRecord[], r: DnsRecord) => list.find((x) => recordSetKey(x) === recordSetKey(r));
  return desired.map((r) => {
    if (r.type !== "TXT") return r;
    const plannedSpf = r.values.find(isSpf);
    const originalSpf = at(original, r)?.values.find(isSpf);
    const spf = plannedSpf && originalSpf ? mergeSpf(plannedSpf, originalSpf) : plannedSpf;
    // Without an SPF of the plan's at this name, a live SPF is the organisation's: kept as it is.
    const others = othersValues(at(live, r), r, at(ours, r)).concat(
      plannedSpf ? [] : (at(live, r)?.values.filter((v) => isSpf(v) && !at(ours, r)?.values.includes(v)) ?? []),
    );
    const values = [...new Set([...r.values.filter((v) => !isSpf(v)), ...(spf ? [spf] : []), ...others])].sort();
    return { ...r, values };
  });
}

/**
 * cutover's part of the live managed sets, as its state records them: at a TXT name the values
 * others keep there left out, and the SPF record reported as planned when it is exactly the planned
 * one merged with the original's terms (anything else is reported as it is: drift). Pure.
 */
export function managedPart(live: DnsRecord[], state: DnsRecord[], original: DnsRecord[]): DnsRecord[] {
  return live.flatMap((l) => {
    const mine = state.find((r) => recordSetKey(r) === recordSetKey(l));
    if (!mine) return [];
    if (l.type !== "TXT") return [l];
    const [expected] = adoptedSets([mine], [], original);
    const plannedSpf = mine.values.find(isSpf);
    const values = l.values
      .filter((v) => mine.values.includes(v) || (isSpf(v) && plannedSpf !== undefined))
      .map((v) => (isSpf(v) && v === expected.values.find(isSpf) ? plannedSpf! : v));
    return values.length ? [{ ...l, values: [...new Set(values)].sort() }] : [];
  });
}

/**
 * What the names cutover stops managing get back: each one's original set, and at a TXT name also
 * the values others added there since (neither cutover's nor SPF); a name that had nothing and
 * keeps nothing goes. Pure.
 */
export function restoredSets(leaving: DnsRecord[], live: DnsRecord[], original: DnsRecord[]): DnsRecord[] {
  return leaving.flatMap((r) => {
    const was = original.find((o) => recordSetKey(o) === recordSetKey(r));
    if (r.type !== "TXT") return was ? [was] : [];
    const added = othersValues(
      live.find((l) => recordSetKey(l) === recordSetKey(r)),
      r,
      was,
    );
    const values = [...new Set([...(was?.values ?? []), ...added])].sort();
    return values.length ? [{ ...r, ttl: was?.ttl ?? r.ttl, values }] : [];
  });
}

const shown = (values: string[]) => values.map((v) => (/\s/.test(v) && !/^\d+ \S+$/.test(v) ? JSON.stringify(v) : v)).join(", ");

/**
 * What the first write of each planned set does to what the zone holds there, one line each, for the
 * preview: "adopt" (the zone holds the planned set: nothing is written), "replace" (a set of a type
 * one owner holds, the original kept for rollback) or "merge" (a shared TXT name: the values that
 * change, and how many others stay). A set the zone does not hold yet is a plain creation: no line.
 * Pure.
 */
export function adoptionLines(fresh: DnsRecord[], live: DnsRecord[]): string[] {
  return fresh.flatMap((r) => {
    const was = live.find((l) => recordSetKey(l) === recordSetKey(r));
    if (!was) return [];
    const [written] = adoptedSets([r], live, [was]);
    const label = `${r.name} ${r.type}`;
    if (sameSet(written, was)) return [`adopt: ${label} ${shown(was.values)} (as it is)`];
    const ttl = written.ttl === was.ttl ? "" : `; TTL ${was.ttl} -> ${written.ttl}`;
    if (sameSet({ ...written, ttl: was.ttl }, was))
      return [`replace: ${label} ${shown(was.values)}${ttl} (the original is kept for rollback)`];
    if (r.type !== "TXT")
      return [`replace: ${label} ${shown(was.values)} -> ${shown(written.values)}${ttl} (the original is kept for rollback)`];
    const [gone, added] = [was.values.filter((v) => !written.values.includes(v)), written.values.filter((v) => !was.values.includes(v))];
    const kept = was.values.length - gone.length;
    return [
      `merge: ${label} ${shown(gone) || "(nothing)"} -> ${shown(added) || "(nothing)"}; ${kept} other value${kept === 1 ? "" : "s"} kept${ttl} (the original is kept for rollback)`,
    ];
  });
}
