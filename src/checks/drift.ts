/**
 * The drift check: the plan of the stack's phase against the live world. Pulumi's refresh sees only
 * what the stack manages; this also asks the authoritative DNS servers (values, TTLs), lists the
 * records the plan does not manage (notes, not drift: the organisation's own), resolvers (for the mx strategy), the hosts over SSH (routing, names, who
 * holds the service address) and the gateway over SMTP (greeting, name, open relay, STARTTLS).
 * One probe builder per area (probes/); every probe has a timeout and they run with bounded
 * parallelism; a probe that cannot reach its server is reported as such, never as clean.
 */
import type { DriftOptions, Finding, Probe } from "./probes/common";
import { cloudUnmanagedProbes, delegationProbes, plannedRecordProbes, resolverProbes, unmanagedRecordProbes } from "./probes/dns";
import { engineProbes } from "./probes/engine";
import { flowProbes } from "./probes/flows";
import { baselineProbes, hostAccessProbes, identityProbes, routeProbes, routingProbes } from "./probes/hosts";
import { mtaStsProbes } from "./probes/mta-sts";
import { smtpProbes } from "./probes/smtp";

export type { DriftOptions, Finding } from "./probes/common";
export { routingDifferences } from "./probes/hosts";

export interface DriftReport {
  stack: string;
  phase: number;
  startedAt: string;
  seconds: number;
  findings: Finding[];
  /** 0 clean (notes allowed), 1 drift, 2 could not check everything (an unreachable server is never clean). */
  exitCode: 0 | 1 | 2;
}

/** Probes at a time unless the options say otherwise. */
export const DEFAULT_CONCURRENCY = 32;

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

/** The verdict of a set of findings: unreachable beats drift beats clean; notes are clean. Pure. */
export const driftExitCode = (findings: Finding[]): DriftReport["exitCode"] =>
  findings.some((f) => f.status === "unreachable") ? 2 : findings.some((f) => f.status === "drift") ? 1 : 0;

export async function checkDrift(o: DriftOptions): Promise<DriftReport> {
  const started = Date.now();
  const probes: Probe[] = [
    ...engineProbes(o),
    ...(await plannedRecordProbes(o)),
    ...(await delegationProbes(o)),
    ...unmanagedRecordProbes(o),
    ...cloudUnmanagedProbes(o),
    ...resolverProbes(o),
    ...hostAccessProbes(o),
    ...routingProbes(o),
    ...routeProbes(o),
    ...baselineProbes(o),
    ...identityProbes(o),
    ...smtpProbes(o),
    ...mtaStsProbes(o),
    ...flowProbes(o),
  ];
  const findings = (await bounded(probes, o.concurrency ?? DEFAULT_CONCURRENCY)).flat();
  return {
    stack: o.stack,
    phase: o.plan.phase,
    startedAt: new Date(started).toISOString(),
    seconds: (Date.now() - started) / 1000,
    findings,
    exitCode: driftExitCode(findings),
  };
}

const count = (r: DriftReport, status: Finding["status"]) => r.findings.filter((f) => f.status === status).length;

/** A table for people: what is not ok first, then a count of what is. Pure. */
export function renderDriftTable(r: DriftReport): string {
  const bad = r.findings.filter((f) => f.status !== "ok");
  const ok = r.findings.length - bad.length;
  const rows = bad.map((f) => [
    `${f.status.toUpperCase()}${f.severity ? ` (${f.severity})` : ""}`,
    f.area,
    f.subject,
    f.check,
    f.expected ?? "",
    f.actual ?? "",
  ]);
  const head = ["status", "area", "subject", "check", "expected", "actual"];
  const widths = head.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((c) => c[i].length))));
  const line = (c: string[]) => c.map((x, i) => (x.length > widths[i] ? `${x.slice(0, widths[i] - 1)}…` : x.padEnd(widths[i]))).join("  ");
  const verdict = ["clean", "DRIFT", "COULD NOT CHECK EVERYTHING"][r.exitCode];
  return [
    ...(rows.length ? [line(head), ...rows.map(line), ""] : []),
    `${verdict}: stack ${r.stack} (phase ${r.phase}), ${r.findings.length} checks, ${ok} ok, ${count(r, "note")} notes, ${count(r, "drift")} drift, ${count(r, "unreachable")} unreachable, ${r.seconds.toFixed(2)} s`,
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
            (f) =>
              `| ${f.status}${f.severity ? ` (${f.severity})` : ""} | ${f.area} | ${esc(f.subject)} | ${esc(f.check)} | ${esc(f.expected ?? "")} | ${esc(f.actual ?? "")} |`,
          ),
        ]
      : []),
    "",
  ].join("\n");
}
