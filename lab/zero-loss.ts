/**
 * Zero-loss runs on the lab, through the engine: the outside MTA streams messages to the gateway
 * address while the go-live and the rollback happen mid-stream (phase and rollback commands'
 * functions, the real engine), optionally with a fault: the new server's MTA killed for 5 s, the
 * SSH connection cut in the middle of the go-live, the engine killed between the old gateway
 * releasing the address and the new server taking it, the legacy gateway dead (powered off) when
 * the go-live starts, or the new server's delivery agents SIGKILLed while they write mail. Every
 * message handed over must end in exactly one mailbox, the right one.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { queuedWith, waitFor } from "../src/checks/mail";
import type { HostRole } from "../src/model/inventory";
import { loadStack, stackPlan } from "../src/model/stack-file";
import { type PhaseOutcome, runPhase } from "../src/ops/phase";
import { runRollback } from "../src/ops/rollback";
import type { MigrationStack } from "../src/ops/stack";
import { run } from "../src/remote/local";
import { type HostSession, SessionPool } from "../src/remote/ssh";
import { hostTarget, sshEndpoint } from "../src/remote/targets";
import { hostDir, type LabDescription, labHostKeys, rebootHost, setSshd } from "./lab";
import { inNamespace } from "./namespaces";
import { type Sample, startProber } from "./prober";
import { REPORTS_DIR } from "./rehearsal";
import {
  type Delivery,
  findDeliveries,
  mailboxPathPart,
  type SentMessage,
  type StreamEvent,
  type StreamTally,
  startStream,
  type TimelineBucket,
  tally,
  timeline,
} from "./stream";
import { renderStreamChart } from "./stream-chart";

export type Fault = "none" | "mta-killed" | "new-rebooted" | "ssh-cut" | "engine-killed" | "deferred" | "legacy-down" | "agent-killed";

export interface ZeroLossOptions {
  stack: MigrationStack;
  lab: LabDescription;
  fault: Fault;
  /** Messages a second (at least 20), for `seconds` seconds. */
  rate?: number;
  seconds?: number;
  /** Instead of one go-live and its rollback: this many go-live/rollback cycles, one after the other (fault "none"). */
  cycles?: number;
  progress: (m: string) => void;
}

export interface ZeroLossReport {
  name: string;
  fault: Fault;
  rate: number;
  seconds: number;
  tally: StreamTally;
  events: StreamEvent[];
  timeline: TimelineBucket[];
  /** ms since the epoch of the timeline's first bucket (the first message handed over). */
  timelineStart: number;
  /** What the fault did and how the stack recovered, in words. */
  notes: string[];
  /** Every command of the run and how it ended: a phase or rollback status, "done", or "failed: ...". */
  commands: { name: string; status: string }[];
  /** The stream's own exit code (0: it ran to its end). */
  streamExitCode: number | undefined;
  /** Messages of the run still in a queue when counting stopped (they count as lost). */
  queuedAtEnd: number;
  /** Who greeted on the gateway address, by the servers' own names, from the outside prober. */
  greetings: { server: string; t: number }[];
  /** Fault "deferred": the run's messages in the legacy gateway's deferred queue when the new server took the address. */
  deferredAtSwitch?: number;
  /**
   * Fault "legacy-down": the markers of the run's messages in the legacy gateway's queue files when
   * its power went (whole or half-written). Only these may arrive twice: SMTP hands a message on at
   * least once, and a host that dies between writing or sending a message and recording so sends it
   * again when it is back.
   */
  heldAtPowerOff?: string[];
  /**
   * Fault "legacy-down": the hosts that answered ARP for the gateway address, asked from the outside
   * host, once the new server had taken it and again at the end (the legacy gateway back): one
   * each time, or two hosts were taking each a part of the mail.
   */
  arpAnswerers?: { atTake: string[]; atEnd: string[] };
  /** Fault "agent-killed": how many delivery agents were SIGKILLed. */
  agentsKilled?: number;
  /** Fault "mta-killed": messages the stream handed over after the kill (none: the fault met no mail). */
  sentAfterFault?: number;
  /**
   * Deliveries the outside sender (enforcing DANE) deferred because the gateway's TLS identity did
   * not verify during the run (a key matching no TLSA record, a TLSA lookup failing, no STARTTLS):
   * each line as its maillog has it.
   */
  tlsDeferred: string[];
  /**
   * Sessions of the outside sender cut during the TLS handshake ("Cannot start TLS: handshake
   * failure"): like a session cut at EHLO, the message was not yet sent and is retried; counted apart.
   */
  handshakeCuts: number;
}

/** A deferral of the outside sender's for a TLS reason, in its maillog. Pure. */
const reason = (line: string) => (line.includes("status=deferred") ? line.slice(line.indexOf("status=deferred")) : "");
const tlsDeferral = (line: string) => /certificate not verified|TLSA|STARTTLS/i.test(reason(line));
const handshakeCut = (line: string) => /Cannot start TLS: handshake failure/.test(reason(line));

/** The outside sender's deferrals in its maillog, each distinct reason once (addresses and ids blanked) with its count. Pure. */
export function deferralReasons(lines: string[]): string {
  const count = new Map<string, number>();
  for (const l of lines.filter((x) => reason(x))) {
    const r = reason(l)
      .replace(/^status=deferred \(/, "")
      .replace(/\)$/, "")
      .replace(/\[[0-9.]+\](:\d+)?/g, "[…]")
      .replace(/<[^>@]*@[^>]*>/g, "<…>");
    count.set(r, (count.get(r) ?? 0) + 1);
  }
  return [...count].map(([r, n]) => `${n} x ${r}`).join("\n    ") || "(none)";
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether a lab host holds the service address (read from the host's namespace, not over SSH). */
async function holds(lab: LabDescription, role: HostRole): Promise<boolean> {
  const h = lab.hosts[role]!;
  const r = await run(["ip", "-n", h.namespace, "-o", "-4", "addr", "show", "dev", h.interface]);
  return r.stdout.includes(` ${lab.serviceAddress}/`);
}

/** The run's messages in a lab host's deferred queue (read from the host's spool, not over SSH). */
async function deferredWith(role: HostRole, tag: string): Promise<number> {
  const r = await run(["grep", "-rlF", "-e", `${tag}-`, join(hostDir(role), "spool", "deferred")], { allowFailure: true });
  return r.stdout.split("\n").filter(Boolean).length;
}

/** The markers of the run's messages in any queue file of a lab host (read from the host's spool, not over SSH). */
async function queuedMarkers(role: HostRole, tag: string): Promise<string[]> {
  const spool = join(hostDir(role), "spool");
  const dirs = ["maildrop", "incoming", "active", "deferred", "hold"].map((d) => join(spool, d));
  const r = await run(["grep", "-rahoE", "-e", `${tag}-[0-9]+`, ...dirs], { allowFailure: true });
  return [...new Set(r.stdout.split("\n").filter(Boolean))].sort();
}

/**
 * Makes the new server unreachable from the legacy gateway (a "prohibit" route in its namespace), or
 * reachable again. Its SMTP sessions open to the new server are reset, as a downstream that goes
 * away resets them: one left open would wait on packets that cannot leave, holding its message in
 * the active queue, not the deferred one.
 */
async function newUnreachableFromLegacy(lab: LabDescription, unreachable: boolean): Promise<void> {
  const [legacy, next] = [lab.hosts.legacy!, lab.hosts.new!];
  await run(["ip", "-n", legacy.namespace, "route", unreachable ? "add" : "del", "prohibit", `${next.address}/32`]);
  if (unreachable)
    await inNamespace(legacy.namespace, ["ss", "-K", "-Htn", "state", "connected", `( dport = :25 and dst ${next.address} )`]);
}

/** The lab host's process tree roots: its sshd (sessions are its children) and postfix master. */
const pidOf = (role: HostRole, file: string) => Number(readFileSync(join(hostDir(role), file), "utf8").trim());

/** The lab host's postfix master process. */
const masterPid = (role: HostRole) => pidOf(role, join("spool", "pid", "master.pid"));

/** Every process below pid (children first, so nothing re-parents before it is killed). */
async function descendants(pid: number): Promise<number[]> {
  const r = await run(["ps", "-e", "-o", "pid=,ppid="]);
  const children = new Map<number, number[]>();
  for (const line of r.stdout.trim().split("\n")) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      walk(c);
      out.push(c);
    }
  };
  walk(pid);
  return out;
}

/**
 * A power loss of a lab host, as far as mail sees it: its postfix (master and every child) and its
 * sshd sessions SIGKILLed, sshd stopped, and its link down, so that nothing answers for its
 * addresses, not even ARP. (Its dovecot, POP3 only, is left running behind the dead link.)
 */
async function powerOff(lab: LabDescription, role: HostRole): Promise<string> {
  const h = lab.hosts[role]!;
  const master = masterPid(role);
  const postfix = [...(await descendants(master)), master];
  const sessions = await descendants(pidOf(role, "sshd.pid"));
  await run(["kill", "-9", ...[...postfix, ...sessions].map(String)], { allowFailure: true });
  await setSshd(role, false);
  await run(["ip", "-n", h.namespace, "link", "set", h.interface, "down"]);
  return `${postfix.length} postfix and ${sessions.length} sshd session processes SIGKILLed, sshd stopped, ${h.interface} down`;
}

/**
 * The host back from the power loss, without the service address (a restart loses an address added
 * at run time; the runbook says to keep it out of the host's network configuration): link up, sshd
 * and postfix started, its queue as the kill left it.
 */
async function powerOn(lab: LabDescription, role: HostRole): Promise<void> {
  const h = lab.hosts[role]!;
  await run(["ip", "-n", h.namespace, "addr", "del", `${lab.serviceAddress}/${lab.prefixLength}`, "dev", h.interface], {
    allowFailure: true,
  });
  await run(["ip", "-n", h.namespace, "link", "set", h.interface, "up"]);
  await setSshd(role, true);
  await inNamespace(h.namespace, ["postfix", "start"], { timeoutMs: 30_000 });
}

/**
 * The lab hosts that answer ARP for the gateway address, asked from the outside host on the lab's
 * link (iputils arping, 3 broadcast requests: every host answering replies to each, with its MAC), by role; a MAC of no lab
 * host is given as it is.
 */
export async function arpAnswerers(lab: LabDescription): Promise<string[]> {
  const from = lab.hosts.internet!;
  const r = await run(
    ["ip", "netns", "exec", from.namespace, "arping", "-b", "-c", "3", "-w", "4", "-I", from.interface, lab.serviceAddress],
    {
      allowFailure: true,
    },
  );
  const macs = new Set([...r.stdout.matchAll(/reply from \S+ \[([0-9a-f:]+)\]/gi)].map((m) => m[1].toLowerCase()));
  const owners = await Promise.all(
    Object.values(lab.hosts).map(async (h) => {
      const [link] = JSON.parse((await run(["ip", "-n", h!.namespace, "-j", "link", "show", "dev", h!.interface])).stdout);
      return [String(link.address).toLowerCase(), h!.role] as const;
    }),
  );
  return [...macs].map((m) => owners.find(([mac]) => mac === m)?.[1] ?? m).sort();
}

/** Files in the maildirs' tmp/ of a lab host: each one a message a delivery agent began to write and never finished. */
async function unfinishedWrites(role: HostRole): Promise<number> {
  const r = await run(["find", join(hostDir(role), "mail"), "-path", "*/tmp/*", "-type", "f"], { allowFailure: true });
  return r.stdout.split("\n").filter(Boolean).length;
}

/**
 * SIGKILLs every delivery agent (the `virtual` processes of the host's postfix master) as soon as
 * one shows, every 50 ms for `ms`: the agents die in the middle of whatever they do, writing a
 * message into a maildir included. Returns how many it killed.
 */
async function killDeliveryAgents(role: HostRole, ms: number): Promise<number> {
  const master = masterPid(role);
  const end = Date.now() + ms;
  let killed = 0;
  while (Date.now() < end) {
    const r = await run(["ps", "-o", "pid=,comm=", "--ppid", String(master)], { allowFailure: true });
    const agents = r.stdout
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter(([, comm]) => comm === "virtual")
      .map(([pid]) => pid);
    if (agents.length) {
      await run(["kill", "-9", ...agents], { allowFailure: true });
      killed += agents.length;
    }
    await sleep(50);
  }
  return killed;
}

/** The `pulumi` CLI process running an operation on the stack, started by this process. */
async function engineProcess(stack: string): Promise<number | undefined> {
  const mine = await descendants(process.pid);
  const r = await run(["ps", "-o", "pid=,args=", "-p", mine.join(",") || "0"], { allowFailure: true });
  const line = r.stdout.split("\n").find((l) => /\bpulumi\b.* up\b/.test(l) && l.includes(stack));
  return line ? Number(line.trim().split(/\s+/)[0]) : undefined;
}

/** A command's outcome as the report tells it: its status, and why when it could not be verified. */
const told = (o: PhaseOutcome) => (o.unverifiedBecause ? `${o.status} (${o.unverifiedBecause})` : o.status);

/** Runs one zero-loss run on a lab stack at phase 4 and leaves it at phase 4 (the legacy-down run: at phase 5). */
export async function zeroLossRun(o: ZeroLossOptions): Promise<ZeroLossReport> {
  const rate = o.rate ?? 25;
  const seconds = o.seconds ?? 30;
  const { stack, lab } = o;
  const p4 = stackPlan(stack.name, 4);
  const recipients = [...new Set(p4.flows.filter((f) => f.from === "outside" && f.mailboxHost !== "internet").map((f) => f.recipient))];
  const sender = p4.flows.find((f) => f.mailboxHost === "internet")!.recipient;
  const expected = (to: string) => ({
    host: p4.flows.find((f) => f.recipient === to)!.mailboxHost as HostRole,
    pathPart: mailboxPathPart(to),
  });
  const tag = `zl${Date.now().toString(36)}`;
  const events: StreamEvent[] = [];
  const notes: string[] = [];
  const options = { yes: true, progress: o.progress };
  const commands: ZeroLossReport["commands"] = [];
  let deferredAtSwitch: number | undefined;
  let heldAtPowerOff: string[] | undefined;
  let arpAtTake: string[] | undefined;
  let agentsKilled: number | undefined;
  let faultAt: number | undefined;
  const event = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const start = Date.now();
    try {
      const result = await fn();
      commands.push({ name, status: (result as { status?: string } | undefined)?.status ?? "done" });
      return result;
    } catch (e) {
      commands.push({ name, status: `failed: ${(e as Error).message.split("\n")[0]}` });
      throw e;
    } finally {
      events.push({ name, start, end: Date.now() });
      o.progress(`zero-loss: ${name}: ${((Date.now() - start) / 1000).toFixed(1)} s`);
    }
  };

  o.progress(
    `zero-loss (${o.fault}): ${rate} messages/s for ${seconds} s from ${sender} to ${recipients.length} mailboxes on both systems`,
  );
  const prober = startProber(lab.hosts.internet!.namespace, lab.serviceAddress, {
    intervalMs: PROBE_INTERVAL_MS,
    maxSeconds: seconds + 120,
  });
  await prober.ready();
  const outsideLog = join(hostDir("internet"), "maillog");
  const logFrom = statSync(outsideLog).size;
  const stream = startStream(lab.hosts.internet!.namespace, { tag, from: sender, to: recipients, rate, seconds });
  const t0 = Date.now();
  const at = (s: number) => sleep(Math.max(0, t0 + s * 1000 - Date.now()));
  await at(5);

  if (o.fault === "ssh-cut" || o.fault === "engine-killed") {
    // Hold the go-live for 4 s once the legacy gateway has released the address, and strike then.
    await stack.setEngineEnv("CUTOVER_FAULT_PAUSE_AFTER_RELEASE_MS", "4000");
    let ended: PhaseOutcome | Error | undefined;
    const goLive = event("go-live (interrupted)", () => runPhase(stack, 5, options)).then(
      (outcome) => {
        ended = outcome;
        return undefined;
      },
      (e: Error) => {
        ended = e;
        return e;
      },
    );
    // The release comes after the preview, the pre-flight and the drain (up to 10 s) of the update:
    // on a loaded machine well over 30 s. Wait for it or for the go-live's end, whichever is first.
    const start = Date.now();
    const released = await waitFor(
      async () => !(await holds(lab, "legacy")),
      (r) => r || ended !== undefined,
      RELEASE_WAIT_MS,
      50,
    );
    if (!released) {
      const after = `${((Date.now() - start) / 1000).toFixed(1)} s`;
      const why =
        ended === undefined
          ? `the go-live was still running after ${after}`
          : ended instanceof Error
            ? `the go-live failed first, after ${after}: ${ended.message.replace(/\s+/g, " ").slice(0, 300)}`
            : `the go-live ended first, after ${after}: ${told(ended)}${ended.refusals.length ? `: ${ended.refusals.map((r) => r.message).join("; ")}` : ""}`;
      throw new Error(`the go-live never released the address on the legacy gateway: ${why}`);
    }
    const struck = Date.now();
    if (o.fault === "ssh-cut") {
      const sessions = await descendants(pidOf("new", "sshd.pid"));
      await run(["kill", "-9", ...sessions.map(String)]);
      notes.push(`SSH cut: ${sessions.length} sshd processes of the new server killed after the legacy gateway released the address`);
    } else {
      const engine = await engineProcess(stack.name);
      if (!engine) throw new Error("no pulumi up process of this stack to kill");
      const tree = [...(await descendants(engine)), engine];
      await run(["kill", "-9", ...tree.map(String)]);
      notes.push(
        `engine killed: pulumi up and its ${tree.length - 1} child processes (language host, program, providers), SIGKILL, after the release`,
      );
    }
    events.push({ name: o.fault === "ssh-cut" ? "SSH cut" : "engine killed", start: struck, end: struck + 100 });
    const failure = await goLive;
    await stack.setEngineEnv("CUTOVER_FAULT_PAUSE_AFTER_RELEASE_MS", undefined);
    notes.push(`the go-live update ${failure ? `failed: ${failure.message.replace(/\s+/g, " ").slice(0, 160)}` : "finished anyway"}`);
    if (o.fault === "ssh-cut") {
      const again = await event("go-live re-run", () => runPhase(stack, 5, options));
      notes.push(`re-running phase 5 finished the go-live: ${told(again)}`);
    } else {
      await event("pulumi cancel", () => stack.cancel());
      const back = await event("rollback after the kill", () => runRollback(stack, options));
      notes.push(
        `the rollback after the kill restored phase 4: ${told(back)}; pending operations left: ${(await stack.pendingOperations()).length}`,
      );
      if (back.addressRestored) notes.push("the rollback found the gateway's address on no host and put it back before the engine ran");
    }
  } else if (o.cycles) {
    for (let i = 1; i <= o.cycles; i++) {
      const live = await event(`go-live ${i}`, () => runPhase(stack, 5, options));
      const back = await event(`rollback ${i}`, () => runRollback(stack, options));
      notes.push(`cycle ${i}: go-live ${told(live)}, rollback ${told(back)}`);
    }
  } else if (o.fault === "legacy-down") {
    // The legacy gateway dies at 5 s; the go-live is told so. It comes back at 15 s, without the
    // address, and phase 5 run again gives it its own name and verifies every flow; the stack stays there.
    const killed = await event("legacy gateway powered off", () => powerOff(lab, "legacy"));
    heldAtPowerOff = await queuedMarkers("legacy", tag);
    notes.push(`legacy gateway powered off: ${killed}; ${heldAtPowerOff.length} messages of the run in its queue files`);
    const off = Date.now();
    const live = event("go-live (legacy down)", () => runPhase(stack, 5, { ...options, legacyDown: true }));
    live.catch(() => undefined);
    const taken = await waitFor(
      () => holds(lab, "new"),
      (h) => h,
      60_000,
      50,
    );
    notes.push(
      taken
        ? `the new server held the address ${((Date.now() - off) / 1000).toFixed(1)} s after the power-off`
        : "the new server never took the address",
    );
    arpAtTake = await arpAnswerers(lab);
    notes.push(`go-live with --legacy-down: ${told(await live)}`);
    await at(15);
    await event("legacy gateway back", () => powerOn(lab, "legacy"));
    const again = await event("go-live re-run", () => runPhase(stack, 5, options));
    notes.push(`phase 5 run again with the legacy gateway back: ${told(again)}`);
  } else if (o.fault === "agent-killed") {
    // No go-live: at phase 4 the new server receives its users' mail from the gateway by split
    // delivery, and its delivery agent writes each message into a maildir. Killed from 5 s to 10 s.
    const before = await unfinishedWrites("new");
    const killed = await event("new server's delivery agents SIGKILLed for 5 s", () => killDeliveryAgents("new", 5000));
    agentsKilled = killed;
    notes.push(
      `${killed} delivery agents (virtual) of the new server SIGKILLed over 5 s; ${(await unfinishedWrites("new")) - before} messages left half-written in a maildir's tmp/ (never counted as delivered: a maildir reader sees new/ and cur/ only)`,
    );
  } else if (o.fault === "deferred") {
    // The new server unreachable from the legacy gateway from 2 s on: the mail the gateway splits off
    // to it waits in the gateway's deferred queue, and is still there when the go-live moves the address.
    // The go-live starts once mail of the run waits there: the fault has struck before the switch.
    await at(2);
    await newUnreachableFromLegacy(lab, true);
    const cut = Date.now();
    const waiting = await waitFor(
      () => deferredWith("legacy", tag),
      (n) => n > 0,
      15_000,
      100,
    );
    notes.push(
      waiting > 0
        ? `${((Date.now() - cut) / 1000).toFixed(1)} s after the cut, ${waiting} messages of the run were in the legacy gateway's deferred queue: the go-live starts`
        : "15 s after the cut, no message of the run was in the legacy gateway's deferred queue: the go-live starts anyway",
    );
    const live = event("go-live", () => runPhase(stack, 5, options));
    live.catch(() => undefined); // awaited below, once the route is back
    const moved = await waitFor(
      () => holds(lab, "new"),
      (h) => h,
      60_000,
      50,
    );
    deferredAtSwitch = await deferredWith("legacy", tag);
    await newUnreachableFromLegacy(lab, false);
    events.push({ name: "new unreachable from legacy", start: cut, end: Date.now() });
    notes.push(
      `the new server was unreachable from the legacy gateway for ${((Date.now() - cut) / 1000).toFixed(1)} s; ${moved ? `when it took the address, ${deferredAtSwitch} messages of the run were in the legacy gateway's deferred queue` : "it never took the address"}`,
    );
    notes.push(`go-live: ${told(await live)}`);
  } else {
    const live = await event("go-live", () => runPhase(stack, 5, options));
    notes.push(`go-live: ${told(live)}`);
    if (o.fault === "mta-killed") {
      const master = masterPid("new");
      await event("new server's MTA killed for 5 s", async () => {
        await run(["kill", "-9", String(master)]);
        faultAt = Date.now();
        await sleep(5000);
        await inNamespace(lab.hosts.new!.namespace, ["postfix", "start"], { timeoutMs: 30_000 });
      });
      notes.push(`the new server's postfix master (pid ${master}) was killed with SIGKILL and started again 5 s later`);
    }
    if (o.fault === "new-rebooted") {
      await event("new server rebooted", async () => {
        faultAt = Date.now();
        await rebootHost("new");
      });
      notes.push(
        "the new server was rebooted after the go-live (lab reboot: every process killed, addresses flushed, then ifup -a, its /etc/hostname, sshd and postfix): it came back holding the gateway address from its own configuration",
      );
    }
  }
  // The legacy-down run ends at phase 5: its rollback would be the plain run's. The agent-killed run never goes live.
  if (!["engine-killed", "legacy-down", "agent-killed"].includes(o.fault) && !o.cycles) {
    await at(o.fault === "none" ? 15 : 20);
    const back = await event("rollback", () => runRollback(stack, options));
    notes.push(`rollback: ${told(back)}`);
  }

  // A command that did not end as planned: keep each host's postfix warnings of the run, for the
  // report (what went wrong on a host is in its log, and the lab is gone after the test).
  if (commands.some((c) => c.status !== "done" && !c.name.includes("interrupted") && !c.name.includes("(legacy down)")))
    for (const role of ["legacy", "new"] as const) {
      const log = readFileSync(join(hostDir(role), "maillog"), "utf8").split("\n");
      const since = new Date(t0).toTimeString().slice(0, 8);
      const warnings = log.filter((l) => /warning|fatal|panic|error/i.test(l) && l.slice(7, 15) >= since).slice(-15);
      notes.push(`${role}'s postfix warnings during the run:\n    ${warnings.join("\n    ") || "(none)"}`);
    }
  const sent = await stream.done();
  const samples = await prober.stop();
  o.progress(`zero-loss: ${sent.length} handed over in ${((Date.now() - t0) / 1000).toFixed(1)} s; waiting for every message`);
  const { deliveries, queuedAtEnd } = await collect(lab, stack.name, tag, sent);
  const result = tally(sent, deliveries, expected);
  const start = Math.min(...sent.map((m) => m.t));
  for (const m of result.problems.duplicated)
    notes.push(
      `${m}, handed over at ${(((sent.find((x) => x.marker === m)?.t ?? start) - start) / 1000).toFixed(2)} s, arrived more than once: ${deliveries
        .filter((d) => d.marker === m)
        .map((d) => `on ${d.host} at ${((d.t - start) / 1000).toFixed(2)} s (${d.path})`)
        .join(", ")}`,
    );
  const outsideLines = readFileSync(outsideLog).subarray(logFrom).toString("utf8").split("\n");
  const tlsDeferred = outsideLines.filter(tlsDeferral);
  notes.push(`the outside sender's deferrals during the run:\n    ${deferralReasons(outsideLines)}`);
  return {
    name: o.cycles ? `zero-loss-cycles-${o.cycles}` : `zero-loss-${o.fault}`,
    fault: o.fault,
    rate,
    seconds,
    tally: result,
    events,
    timeline: timeline(sent, deliveries),
    timelineStart: start,
    notes,
    commands,
    streamExitCode: stream.exitCode(),
    queuedAtEnd,
    greetings: greetingChanges(samples),
    ...(deferredAtSwitch === undefined ? {} : { deferredAtSwitch }),
    ...(heldAtPowerOff === undefined ? {} : { heldAtPowerOff }),
    ...(arpAtTake === undefined ? {} : { arpAnswerers: { atTake: arpAtTake, atEnd: await arpAnswerers(lab) } }),
    ...(agentsKilled === undefined ? {} : { agentsKilled }),
    ...(faultAt === undefined ? {} : { sentAfterFault: sent.filter((m) => m.t > faultAt!).length }),
    tlsDeferred,
    handshakeCuts: outsideLines.filter(handshakeCut).length,
  };
}

/**
 * The run's prober greets twice a second: enough to see who holds the address, rare enough not to
 * hold up the drain, which waits until no session to the address is left (at 50 ms it did: the
 * plain run's longest gap went from 0.2 to 1.4 s).
 */
const PROBE_INTERVAL_MS = 500;
/** How long a fault run waits for the go-live to release the address before it strikes. */
const RELEASE_WAIT_MS = 120_000;

/** How long counting waits, at most, for every queue to empty; what is still queued then counts as lost. */
const QUEUE_BOUND_MS = 90_000;
/** After the queues are empty: longer than the lab MTAs' longest retry backoff (4 s), so a late copy shows. */
const SETTLE_MS = 5_000;

/**
 * Counts only once every MTA's queue is empty (or QUEUE_BOUND_MS passed: what is left is lost),
 * then waits SETTLE_MS and looks on every host once more.
 */
async function collect(
  lab: LabDescription,
  stackName: string,
  tag: string,
  sent: SentMessage[],
): Promise<{ deliveries: Delivery[]; queuedAtEnd: number }> {
  const pool = new SessionPool();
  const privateKey = readFileSync(lab.adminKeyPath, "utf8");
  const inv = loadStack(stackName, 4).inventory;
  const session = (role: HostRole): Promise<HostSession> => pool.session(hostTarget(sshEndpoint(inv, role, labHostKeys(lab)), privateKey));
  const roles: HostRole[] = ["legacy", "new", "internet"];
  // A queue manager that finds a message still locked by a delivery agent (the one that just
  // deferred it, when the lab's retry was 1 s: see lab/daemons.ts; one a killed master left) puts
  // it back in the incoming queue for 60 s, and scans that queue again only when told new mail
  // arrived ("skipped, still being delivered" in its log). A real sender is told all the time; the
  // lab's, once the stream has ended, never: seen once, a message of the run then sat there until
  // counting gave up. So while counting, each host is told what each new arrival tells it
  // (postkick public qmgr I). postkick dies of SIGPIPE now and then (the queue manager closes the
  // socket first): a shell around it reports an exit code (141) instead of a channel closed without
  // one; the next look kicks again.
  const kick = () =>
    Promise.all(
      roles.map(async (r) =>
        (await session(r)).exec(["sh", "-c", "postkick public qmgr I </dev/null >/dev/null 2>&1"], { allowFailure: true }),
      ),
    );
  const look = async () => {
    await kick();
    return (await Promise.all(roles.map(async (r) => findDeliveries(await session(r), r, tag)))).flat();
  };
  const queued = async () =>
    (await Promise.all(roles.map(async (r) => queuedWith(await session(r), [`${tag}-`])))).reduce((a, b) => a + b, 0);
  try {
    const handed = new Set(sent.filter((m) => !m.error).map((m) => m.marker));
    await waitFor(look, (d) => new Set(d.map((x) => x.marker).filter((m) => handed.has(m))).size >= handed.size, QUEUE_BOUND_MS, 1000);
    const queuedAtEnd = await waitFor(queued, (n) => n === 0, QUEUE_BOUND_MS, 500);
    await sleep(SETTLE_MS);
    return { deliveries: await look(), queuedAtEnd };
  } finally {
    await pool.closeAll();
  }
}

/** The greetings at which the answering server changed, by its own name: who held the address when. Pure. */
export function greetingChanges(samples: Sample[]): { server: string; t: number }[] {
  const out: { server: string; t: number }[] = [];
  for (const x of [...samples].filter((y) => y.server).sort((a, b) => (a.g ?? a.t) - (b.g ?? b.t)))
    if (out.at(-1)?.server !== x.server) out.push({ server: x.server!, t: x.g ?? x.t });
  return out;
}

/** Writes the run's JSON and its picture (SVG) beside it, under reports/. */
export async function writeZeroLossReport(r: ZeroLossReport): Promise<{ json: string; svg: string }> {
  mkdirSync(REPORTS_DIR, { recursive: true });
  const base = join(REPORTS_DIR, r.name);
  writeFileSync(`${base}.json`, `${JSON.stringify(r, null, 2)}\n`);
  const t = r.tally;
  const svg = await renderStreamChart({
    title: `${r.name}: ${t.sent} sent, ${t.delivered} delivered, ${t.duplicated} duplicated, ${t.lost} lost, longest gap ${(t.longestGapMs / 1000).toFixed(1)} s`,
    buckets: r.timeline,
    events: r.events,
    start: r.timelineStart,
    switches: r.greetings.slice(1).map((g) => ({ t: g.t, label: `${g.server.split(".")[0]} answers` })),
  });
  writeFileSync(`${base}.svg`, svg);
  return { json: `${base}.json`, svg: `${base}.svg` };
}

/** One line per run: the figures the issue asks for. */
export const summaryLine = (r: ZeroLossReport) =>
  `${r.name}: sent ${r.tally.sent}, delivered ${r.tally.delivered}, duplicated ${r.tally.duplicated}, lost ${r.tally.lost}, misdelivered ${r.tally.misdelivered}, deferred for TLS ${r.tlsDeferred.length} (handshakes cut ${r.handshakeCuts}), longest gap ${(r.tally.longestGapMs / 1000).toFixed(2)} s, slowest ${(r.tally.slowestMs / 1000).toFixed(1)} s`;
