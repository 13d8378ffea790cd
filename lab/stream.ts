/**
 * The zero-loss check: a steady stream of marked messages from the outside host's MTA to the
 * gateway, then every copy of every message looked for on every host. Each message handed over
 * must end in exactly one mailbox, the right one; the tally says how many did not, and the
 * timeline (per 100 ms) shows the gap a go-live or a fault made.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import type { HostRole } from "../src/model/inventory";
import { PROJECT_DIR } from "../src/model/stack-file";
import { execSequence, type HostSession, sectionMarker, sections } from "../src/remote/ssh";

export interface SentMessage {
  seq: number;
  to: string;
  marker: string;
  /** When it was handed to the outside MTA, ms since the epoch. */
  t: number;
  /** Set when the outside MTA refused it (it then never counts as handed over). */
  error?: string;
}

export interface Delivery {
  marker: string;
  host: HostRole;
  path: string;
  /** The maildir file's modification time, ms since the epoch. */
  t: number;
}

export interface StreamOptions {
  tag: string;
  from: string;
  to: string[];
  rate: number;
  seconds: number;
}

export interface RunningStream {
  /** Resolves with every message once the stream has ended. */
  done(): Promise<SentMessage[]>;
  /** How many were handed over so far. */
  count(): number;
  /** The stream's exit code once it has ended. */
  exitCode(): number | undefined;
}

/** Starts scripts/mail-stream.ts on the outside host (in the lab, inside its namespace). */
export function startStream(namespace: string, o: StreamOptions): RunningStream {
  const tsx = require.resolve("tsx/cli");
  const args = ["--tag", o.tag, "--from", o.from, "--to", o.to.join(","), "--rate", String(o.rate), "--seconds", String(o.seconds)];
  const child = spawn("ip", ["netns", "exec", namespace, process.execPath, tsx, join(PROJECT_DIR, "scripts", "mail-stream.ts"), ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const sent: SentMessage[] = [];
  let rest = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    for (const l of lines) if (l.trim()) sent.push(JSON.parse(l));
  });
  let exitCode: number | undefined;
  const exited = new Promise<void>((r) =>
    child.on("exit", (code, signal) => {
      exitCode = code ?? (signal ? 128 : 1);
      r();
    }),
  );
  return { done: () => exited.then(() => sent.sort((a, b) => a.seq - b.seq)), count: () => sent.length, exitCode: () => exitCode };
}

/** Every maildir file on the host (in new/ or cur/) that carries a marker of the tag, with its time: two commands, one round trip. */
export async function findDeliveries(s: HostSession, host: HostRole, tag: string): Promise<Delivery[]> {
  const { stdout } = await execSequence(
    s,
    [
      [
        "sh",
        "-c",
        'base=$(postconf -h virtual_mailbox_base) && [ -d "$base" ] && grep -rHoE -m1 -- "$1-[0-9]+" "$base" || true',
        "sh",
        tag,
      ],
      sectionMarker,
      [
        "sh",
        "-c",
        // The file's own directory: the lab's new server keeps its mail under hosts/new/, so "*/new/*" matched its tmp/ too.
        'base=$(postconf -h virtual_mailbox_base) && [ -d "$base" ] && find "$base" -type f -regex ".*/\\(new\\|cur\\)/[^/]*" -printf "%T@ %p\\n" || true',
      ],
    ],
    { continueOnError: true },
  );
  const [found, times] = sections(stdout);
  const mtime = new Map(
    (times ?? "")
      .split("\n")
      .filter(Boolean)
      .map((l) => [l.slice(l.indexOf(" ") + 1), Math.round(Number(l.slice(0, l.indexOf(" "))) * 1000)] as const),
  );
  return (found ?? "")
    .split("\n")
    .filter(Boolean)
    .map((l) => ({ path: l.slice(0, l.lastIndexOf(":")), marker: l.slice(l.lastIndexOf(":") + 1) }))
    .filter((d) => mtime.has(d.path))
    .map((d) => ({ ...d, host, t: mtime.get(d.path)! }));
}

/** A moment or span of the run worth marking in the timeline: a go-live, a rollback, a fault. */
export interface StreamEvent {
  name: string;
  start: number;
  end: number;
}

export interface StreamTally {
  /** Handed over to the outside MTA. */
  sent: number;
  /** Refused by the outside MTA itself (never handed over). */
  refused: number;
  /** In exactly one mailbox, the right one. */
  delivered: number;
  /** Found more than once. */
  duplicated: number;
  /** Found only in a wrong mailbox (or a bounce in the sender's). */
  misdelivered: number;
  /** Handed over and found nowhere. */
  lost: number;
  /** Longest time with no delivery at all, from the first message handed over to the last delivered. */
  longestGapMs: number;
  /** Longest time one message took from hand-over to its mailbox. */
  slowestMs: number;
  /** The markers of what went wrong, for the report. */
  problems: { lost: string[]; duplicated: string[]; misdelivered: string[] };
}

/** Per 100 ms from the first hand-over: messages handed over, and delivered on each host. */
export interface TimelineBucket {
  t: number;
  sent: number;
  delivered: Partial<Record<HostRole, number>>;
}

/** Where the message for a recipient belongs: the host of the mailbox, and the mailbox's path part. */
export type Expected = (recipient: string) => { host: HostRole; pathPart: string };

/** The mailbox path part of an address in the maildir layout: /domain/user/. Pure. */
export const mailboxPathPart = (address: string) =>
  `/${address.slice(address.indexOf("@") + 1)}/${address.slice(0, address.indexOf("@"))}/`;

/** Counts what became of each message handed over. Pure. */
export function tally(sent: SentMessage[], deliveries: Delivery[], expected: Expected): StreamTally {
  const copies = new Map<string, Delivery[]>();
  for (const d of deliveries) copies.set(d.marker, [...(copies.get(d.marker) ?? []), d]);
  const handed = sent.filter((m) => !m.error);
  const problems = { lost: [] as string[], duplicated: [] as string[], misdelivered: [] as string[] };
  let delivered = 0;
  let slowestMs = 0;
  for (const m of handed) {
    const found = copies.get(m.marker) ?? [];
    const want = expected(m.to);
    const right = found.filter((d) => d.host === want.host && d.path.includes(want.pathPart));
    // A copy in a wrong mailbox is a misdelivery even beside a right one: it reached someone it must not.
    if (!found.length) problems.lost.push(m.marker);
    else if (right.length < found.length) problems.misdelivered.push(m.marker);
    else if (found.length > 1) problems.duplicated.push(m.marker);
    else {
      delivered++;
      slowestMs = Math.max(slowestMs, right[0].t - m.t);
    }
  }
  const times = [...(handed.length ? [Math.min(...handed.map((m) => m.t))] : []), ...deliveries.map((d) => d.t)].sort((a, b) => a - b);
  const longestGapMs = times.reduce((gap, t, i) => (i ? Math.max(gap, t - times[i - 1]) : gap), 0);
  return {
    sent: handed.length,
    refused: sent.length - handed.length,
    delivered,
    duplicated: problems.duplicated.length,
    misdelivered: problems.misdelivered.length,
    lost: problems.lost.length,
    longestGapMs,
    slowestMs,
    problems,
  };
}

/** The run per 100 ms, from the first hand-over to the last delivery. Pure. */
export function timeline(sent: SentMessage[], deliveries: Delivery[], bucketMs = 100): TimelineBucket[] {
  const handed = sent.filter((m) => !m.error);
  if (!handed.length) return [];
  const start = Math.min(...handed.map((m) => m.t));
  const end = Math.max(...handed.map((m) => m.t), ...deliveries.map((d) => d.t));
  const buckets: TimelineBucket[] = Array.from({ length: Math.floor((end - start) / bucketMs) + 1 }, (_, i) => ({
    t: (i * bucketMs) / 1000,
    sent: 0,
    delivered: {},
  }));
  for (const m of handed) buckets[Math.floor((m.t - start) / bucketMs)].sent++;
  for (const d of deliveries) {
    const i = Math.floor((d.t - start) / bucketMs);
    if (i < 0 || i >= buckets.length) continue;
    buckets[i].delivered[d.host] = (buckets[i].delivered[d.host] ?? 0) + 1;
  }
  return buckets;
}
