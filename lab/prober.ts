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
  /** The 220 greeting line, or undefined when no greeting came. */
  banner?: string;
  /** The server's own name, from its EHLO reply: tells the servers apart while both greet as the gateway. */
  server?: string;
}

/** One probe loop, in this process: what scripts/probe-gateway.ts runs on the outside host. */
export async function probeLoop(
  address: string,
  intervalMs: number,
  maxSeconds: number,
  emit: (s: Sample) => void,
  stopped: () => boolean,
): Promise<void> {
  const net = await import("node:net");
  const deadline = Date.now() + maxSeconds * 1000;
  let pending = 0;
  while (Date.now() < deadline && !stopped()) {
    if (pending < 50) {
      pending++;
      const t = Date.now();
      const socket = net.connect({ host: address, port: 25 });
      let buffer = "";
      let banner: string | undefined;
      let finished = false;
      const done = (server?: string) => {
        if (finished) return;
        finished = true;
        socket.destroy();
        pending--;
        emit({ t, ...(banner ? { banner } : {}), ...(server ? { server } : {}) });
      };
      socket.setTimeout(1000, () => done());
      socket.on("error", () => done());
      socket.on("close", () => done());
      socket.on("data", (d) => {
        buffer += d.toString("utf8");
        const lines = buffer.split("\r\n");
        if (!banner && lines.length > 1) {
          banner = lines[0];
          socket.write("EHLO prober.invalid\r\n");
        }
        const ehlo = lines.slice(1).find((l) => /^250[- ]/.test(l));
        if (ehlo) {
          socket.write("QUIT\r\n");
          done(ehlo.slice(4).split(/\s+/)[0]);
        }
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
export function startProber(namespace: string, address: string, opts: { intervalMs?: number; maxSeconds?: number } = {}): RunningProber {
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
  /** Last greeting by the old server before the new one answered. */
  lastOld: number | undefined;
  /** First greeting by the new server. */
  firstNew: number | undefined;
  /** firstNew - lastOld, in milliseconds: how long no server greeted a sender. */
  outageMs: number | undefined;
  /** Probes with no greeting between them. */
  unanswered: number;
}

/** The outage of one switch, from samples: servers are told apart by their own names. Pure. */
export function outageWindow(samples: Sample[], oldServer: string, newServer: string): Switch {
  const firstNew = samples.find((s) => s.server === newServer)?.t;
  const lastOld = [...samples].reverse().find((s) => s.server === oldServer && (firstNew === undefined || s.t < firstNew))?.t;
  const unanswered = samples.filter(
    (s) => !s.server && lastOld !== undefined && firstNew !== undefined && s.t > lastOld && s.t < firstNew,
  ).length;
  return { lastOld, firstNew, outageMs: lastOld !== undefined && firstNew !== undefined ? firstNew - lastOld : undefined, unanswered };
}
