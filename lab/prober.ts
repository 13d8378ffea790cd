/**
 * The outside prober: connects to the gateway address every few milliseconds, as a sender would,
 * and records who greets. It runs on the outside host (in the lab, inside its namespace), bounded
 * in time, and stops by itself.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { PROJECT_DIR } from "../src/model/stack-file";

export interface Sample {
  /** Milliseconds since the epoch when the probe started. */
  t: number;
  /** When the greeting came (absent in recordings made before it was kept, and when none came). */
  g?: number;
  /** The 220 greeting line, or undefined when no greeting came. */
  banner?: string;
  /** The server's own name, from its EHLO reply: tells the servers apart while both greet as the gateway. */
  server?: string;
  /**
   * A DATA probe's reply to DATA: "354" (would take a message; the probe hangs up, so nothing is
   * delivered) or "421" (a draining gateway turns the transaction away).
   */
  data?: string;
}

/** Of the probes, every DATA_EVERY-th goes on to DATA (and hangs up there): enough to see a drain. */
const DATA_EVERY = 5;

/** One probe loop, in this process: what scripts/probe-gateway.ts runs on the outside host. */
export async function probeLoop(
  address: string,
  intervalMs: number,
  maxSeconds: number,
  emit: (s: Sample) => void,
  stopped: () => boolean,
  /** Every DATA_EVERY-th probe goes on to DATA for this recipient, to see a drain's 421. */
  dataRecipient?: string,
): Promise<void> {
  const net = await import("node:net");
  const deadline = Date.now() + maxSeconds * 1000;
  let pending = 0;
  let count = 0;
  while (Date.now() < deadline && !stopped()) {
    if (pending < 50) {
      pending++;
      const toData = dataRecipient !== undefined && count++ % DATA_EVERY === 0;
      const t = Date.now();
      const socket = net.connect({ host: address, port: 25 });
      let buffer = "";
      let banner: string | undefined;
      let greetedAt: number | undefined;
      let finished = false;
      let server: string | undefined;
      const done = (data?: string) => {
        if (finished) return;
        finished = true;
        socket.destroy();
        pending--;
        emit({
          t,
          ...(greetedAt ? { g: greetedAt } : {}),
          ...(banner ? { banner } : {}),
          ...(server ? { server } : {}),
          ...(data ? { data } : {}),
        });
      };
      socket.setTimeout(1000, () => done());
      socket.on("error", () => done());
      socket.on("close", () => done());
      socket.on("data", (d) => {
        buffer += d.toString("utf8");
        const lines = buffer.split("\r\n");
        if (!banner && lines.length > 1) {
          banner = lines[0];
          greetedAt = Date.now();
          socket.write("EHLO prober.invalid\r\n");
        }
        const ehlo = lines.slice(1).find((l) => /^250[- ]/.test(l));
        if (ehlo && !server) {
          server = ehlo.slice(4).split(/\s+/)[0];
          if (!toData) {
            socket.write("QUIT\r\n");
            done();
          } else socket.write(`MAIL FROM:<prober@prober.invalid>\r\nRCPT TO:<${dataRecipient}>\r\nDATA\r\n`);
        }
        // Pipelined: after the greeting and EHLO's last line, the replies to MAIL, RCPT and DATA.
        const replies = lines.filter((l) => /^\d{3} /.test(l));
        if (toData && server && replies.length >= 5) done(replies[4].slice(0, 3));
      });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface RunningProber {
  /** Resolves once the first greeting came back: the prober is watching. */
  ready(): Promise<void>;
  stop(): Promise<Sample[]>;
}

/** Starts scripts/probe-gateway.ts inside a namespace (the lab's outside host). */
export function startProber(
  namespace: string,
  address: string,
  opts: { intervalMs?: number; maxSeconds?: number; dataRecipient?: string } = {},
): RunningProber {
  const tsx = require.resolve("tsx/cli");
  const child = spawn(
    "ip",
    [
      "netns",
      "exec",
      namespace,
      process.execPath,
      tsx,
      join(PROJECT_DIR, "scripts", "probe-gateway.ts"),
      address,
      String(opts.intervalMs ?? 20),
      String(opts.maxSeconds ?? 120),
      ...(opts.dataRecipient ? [opts.dataRecipient] : []),
    ],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const samples: Sample[] = [];
  let rest = "";
  let markReady: () => void = () => {};
  const ready = new Promise<void>((r) => (markReady = r));
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    for (const l of lines) if (l.trim()) samples.push(JSON.parse(l));
    if (samples.some((x) => x.server)) markReady();
  });
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  exited.then(markReady);
  return {
    ready: () => ready,
    async stop() {
      child.kill("SIGTERM");
      await exited;
      return samples.sort((a, b) => a.t - b.t);
    },
  };
}

export interface Switch {
  /** Last greeting by the old server before the new one's first. */
  lastOld: number | undefined;
  /** First greeting by the new server. */
  firstNew: number | undefined;
  /**
   * The longest time, over the whole probe run, in which no server greeted a sender: stamped at the
   * greetings, so silence after the new server's first greeting counts too. Undefined when the new
   * server never greeted (no switch was seen).
   */
  outageMs: number | undefined;
  /** Greetings by the old server after the new one's first: both hosts answering at once. */
  overlaps: number;
  /** Probes that got no greeting at all. */
  unanswered: number;
  /** From the first to the last DATA probe turned away with 421 (a draining gateway), in ms; 0 if none. */
  drainMs: number;
  /** DATA probes turned away with 421. */
  refusedAtData: number;
}

/** The outage of one switch, from a probe run: servers are told apart by their own names. Pure. */
export function outageWindow(samples: Sample[], oldServer: string, newServer: string): Switch {
  const at = (s: Sample) => s.g ?? s.t;
  const greeted = samples.filter((s) => s.server).sort((a, b) => at(a) - at(b));
  const firstNew = greeted.find((s) => s.server === newServer);
  const lastOld = [...greeted].reverse().find((s) => s.server === oldServer && (!firstNew || at(s) < at(firstNew)));
  const overlaps = firstNew ? greeted.filter((s) => s.server === oldServer && at(s) > at(firstNew)).length : 0;
  const unanswered = samples.filter((s) => !s.server).length;
  const refused = samples.filter((s) => s.data === "421").map(at);
  const drain = { drainMs: refused.length ? Math.max(...refused) - Math.min(...refused) : 0, refusedAtData: refused.length };
  if (!firstNew || !samples.length)
    return { lastOld: lastOld && at(lastOld), firstNew: undefined, outageMs: undefined, overlaps, unanswered, ...drain };
  // From the first probe to the last greeting, and on to the last probe sent if no greeting followed it.
  const [first, last] = [Math.min(...samples.map((s) => s.t)), Math.max(...samples.map((s) => s.t))];
  const times = [first, ...greeted.map(at)];
  if (last > times[times.length - 1]) times.push(last);
  const outageMs = times.reduce((gap, t, i) => (i ? Math.max(gap, t - times[i - 1]) : gap), 0);
  return { lastOld: lastOld && at(lastOld), firstNew: at(firstNew), outageMs, overlaps, unanswered, ...drain };
}
