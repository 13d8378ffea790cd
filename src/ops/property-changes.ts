/**
 * What changed in a resource, property by property, from the old and new values the engine's
 * events carry. The Node.js dynamic provider host drops a provider's `diffs` and detailed diff
 * (its DiffResult has neither), so the phase commands and the drift check work out the changed
 * properties themselves: a map's changed keys (a record set "name TYPE", a main.cf setting) and a
 * line set's added and removed lines (a routing map's entries, packed or not). Pure.
 */

import { isPackedLines, unpackLines } from "../model/routing";

export interface PropertyChange {
  /** `routing.relays`, `records["example.com MX"]`, `baseline["main.cf relayhost"]`. */
  path: string;
  /** Lines (of a line set) or values (as JSON) that appear in the new value only. */
  added: string[];
  /** ... and those in the old value only. */
  removed: string[];
}

/**
 * Properties that only restate others (content digests), that the engine masks, or that say what
 * a step does rather than what it sets (a zone's adoption lines, printed apart: outcome.ts).
 */
const DERIVED = new Set(["digest", "__provider", "adoption"]);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const key = (path: string, k: string) =>
  /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `${path}${path ? "." : ""}${k}` : `${path}[${JSON.stringify(k)}]`;
const lines = (v: unknown) => (typeof v === "string" ? unpackLines(v).split("\n").filter(Boolean) : []);
const isLineSet = (a: unknown, b: unknown) =>
  (typeof a === "string" || a === undefined) &&
  (typeof b === "string" || b === undefined) &&
  (`${a ?? ""}${b ?? ""}`.includes("\n") || isPackedLines(a) || isPackedLines(b));

function compare(a: unknown, b: unknown, path: string, depth: number, out: PropertyChange[]): void {
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  if (depth > 0 && (isRecord(a) || a === undefined) && (isRecord(b) || b === undefined) && (a || b)) {
    const [x, y] = [(a ?? {}) as Record<string, unknown>, (b ?? {}) as Record<string, unknown>];
    for (const k of [...new Set([...Object.keys(x), ...Object.keys(y)])].sort())
      if (!(depth === 2 && DERIVED.has(k))) compare(x[k], y[k], key(path, k), depth - 1, out);
    return;
  }
  if (isLineSet(a, b)) {
    const [was, now] = [new Set(lines(a)), new Set(lines(b))];
    const [added, removed] = [[...now].filter((l) => !was.has(l)), [...was].filter((l) => !now.has(l))];
    // The same lines, packed on one side or in another order: the same map.
    if (added.length || removed.length) out.push({ path, added, removed });
    return;
  }
  out.push({ path, added: b === undefined ? [] : [JSON.stringify(b)], removed: a === undefined ? [] : [JSON.stringify(a)] });
}

/** The changed properties between two property bags, two levels deep (a property, then a key of a map-valued one). */
export function propertyChanges(olds: Record<string, unknown> | undefined, news: Record<string, unknown> | undefined): PropertyChange[] {
  const out: PropertyChange[] = [];
  compare(olds ?? {}, news ?? {}, "", 2, out);
  return out;
}

/** "records[\"example.com MX\"]: + \"5 mx.evil.test\"", shortened to `limit` items a side. Pure. */
export function describeChange(c: PropertyChange, limit = 3): string {
  const some = (sign: string, xs: string[]) =>
    xs.length ? [`${sign} ${xs.slice(0, limit).join(`, `)}${xs.length > limit ? ` (+${xs.length - limit} more)` : ""}`] : [];
  return `${c.path}: ${[...some("-", c.removed), ...some("+", c.added)].join(" ")}`;
}

/** " (routing.relays, records[\"example.com MX\"])": the changed properties of a step, for a progress line. */
export const changedProperties = (step: { diffs: string[]; changes: PropertyChange[] }) => {
  const paths = step.changes.length ? step.changes.map((c) => c.path) : step.diffs;
  return paths.length ? ` (${paths.join(", ")})` : "";
};
