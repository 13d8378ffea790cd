/**
 * The lab's network: namespaces joined by a bridge in a namespace of its own (nothing is added to
 * the root namespace), and running programs inside them.
 */

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CutoverError } from "../src/model/errors";
import { type RunOptions, run } from "../src/remote/local";
import {
  BRIDGE,
  hostDir,
  LAB_CA_FILE,
  LAB_PREFIX,
  OFFICE_ADDRESS,
  OFFICE_NS,
  OPERATOR_ADDRESS,
  OPERATOR_NS,
  type PlannedLabHost,
  SWITCH_NS,
} from "./layout";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs argv inside a network namespace. */
export const inNamespace = (ns: string, argv: string[], opts?: RunOptions) => run(["ip", "netns", "exec", ns, ...argv], opts);

/**
 * Starts a daemon inside a namespace with no inherited stdio (an inherited stdout hangs
 * pipelines: lab-notes pitfall 8) and returns once the launcher exits.
 */
export function startDaemon(ns: string, argv: string[], opts: { uts?: boolean } = {}): Promise<void> {
  const full = ["ip", "netns", "exec", ns, ...(opts.uts ? ["unshare", "--uts", "--"] : []), ...argv];
  return new Promise((resolve, reject) => {
    const child = spawn(full[0], full.slice(1), { stdio: "ignore", detached: true });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${full.join(" ")} exited ${code}`))));
  });
}

export async function labNamespaces(): Promise<string[]> {
  const { stdout } = await run(["ip", "netns", "list"]);
  return stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n) => n?.startsWith(`${LAB_PREFIX}-`));
}

export async function killNamespace(ns: string): Promise<void> {
  const pids = async () => (await run(["ip", "netns", "pids", ns], { allowFailure: true })).stdout.split(/\s+/).filter(Boolean).map(Number);
  for (const [signal, waitMs] of [
    ["SIGTERM", 1500],
    ["SIGKILL", 1000],
  ] as const) {
    const list = await pids();
    if (!list.length) return;
    for (const pid of list) {
      try {
        process.kill(pid, signal);
      } catch {
        /* already gone */
      }
    }
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline && (await pids()).length) await sleep(50);
  }
}

/**
 * A host's network as its boot brings it up: Debian's ifupdown (`ifup -a`) against the host's own
 * /etc/network/interfaces (mounted over /etc/network by ip netns exec), with its state in a
 * /run/network of the host's own (ifupdown's state would otherwise be shared by every lab host).
 */
export async function bootNetwork(h: PlannedLabHost, runDir: string): Promise<void> {
  mkdirSync("/run/network", { recursive: true });
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  await inNamespace(h.namespace, ["sh", "-c", 'mount --bind "$1" /run/network && ifup -a', "sh", runDir]);
}

export async function buildNetwork(hosts: PlannedLabHost[], prefixLength: number): Promise<void> {
  await run(["ip", "netns", "add", SWITCH_NS]);
  await run(["ip", "-n", SWITCH_NS, "link", "add", BRIDGE, "type", "bridge"]);
  await run(["ip", "-n", SWITCH_NS, "link", "set", BRIDGE, "up"]);
  for (const h of hosts) {
    await run(["ip", "netns", "add", h.namespace]);
    // Both ends are made inside namespaces: nothing is added to the root namespace.
    await run(["ip", "-n", SWITCH_NS, "link", "add", h.link, "type", "veth", "peer", "name", h.interface, "netns", h.namespace]);
    await run(["ip", "-n", SWITCH_NS, "link", "set", h.link, "master", BRIDGE, "up"]);
    await run(["ip", "-n", h.namespace, "link", "set", "lo", "up"]);
    // Deleting a primary address deletes its secondaries unless they are promoted (lab-notes 7).
    for (const key of ["net.ipv4.conf.all.promote_secondaries=1", `net.ipv4.conf.${h.interface}.promote_secondaries=1`])
      await inNamespace(h.namespace, ["sysctl", "-q", "-w", key]);
    await bootNetwork(h, join(hostDir(h.role), "run-network"));
  }
  // Workstations on the bridge: the operator's, and an office client of the legacy gateway.
  for (const [ns, link, address] of [
    [OPERATOR_NS, `${LAB_PREFIX}-op`, OPERATOR_ADDRESS],
    [OFFICE_NS, `${LAB_PREFIX}-of`, OFFICE_ADDRESS],
  ]) {
    await run(["ip", "netns", "add", ns]);
    await run(["ip", "-n", SWITCH_NS, "link", "add", link, "type", "veth", "peer", "name", `${LAB_PREFIX}0`, "netns", ns]);
    await run(["ip", "-n", SWITCH_NS, "link", "set", link, "master", BRIDGE, "up"]);
    await run(["ip", "-n", ns, "link", "set", "lo", "up"]);
    await run(["ip", "-n", ns, "addr", "add", `${address}/${prefixLength}`, "dev", `${LAB_PREFIX}0`]);
    await run(["ip", "-n", ns, "link", "set", `${LAB_PREFIX}0`, "up"]);
  }
}

/** Waits until every port listens inside the namespace. */
export async function waitListening(ns: string, ports: number[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { stdout } = await inNamespace(ns, ["ss", "-Hltn"], { allowFailure: true });
    const open = new Set([...stdout.matchAll(/:(\d+)\s/g)].map((m) => Number(m[1])));
    const missing = ports.filter((p) => !open.has(p));
    if (!missing.length) return;
    if (Date.now() > deadline)
      throw new CutoverError(`lab: ${ns} does not listen on port ${missing.join(", ")} after ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

/**
 * Runs a node script of the project in the operator's namespace (where lab clients run: the
 * root namespace routes lab addresses off the machine), with stdio inherited; resolves with its
 * exit code. SIGINT and SIGTERM are passed on.
 */
/**
 * The environment of a lab client on the operator's workstation: it knows it is in the lab, and
 * trusts the lab CA as an operator's machine trusts the CA of its organisation's web servers
 * (the drift check fetches the MTA-STS policies over HTTPS).
 */
const operatorEnv = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
  ...env,
  CUTOVER_IN_LAB: "1",
  ...(existsSync(LAB_CA_FILE) ? { NODE_EXTRA_CA_CERTS: LAB_CA_FILE } : {}),
});

export function inOperatorNamespace(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const child = spawn("ip", ["netns", "exec", OPERATOR_NS, ...argv], { stdio: "inherit", env: operatorEnv(env) });
  const pass = (signal: NodeJS.Signals) => () => child.kill(signal);
  process.on("SIGINT", pass("SIGINT"));
  process.on("SIGTERM", pass("SIGTERM"));
  return new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? 130 : 1))));
}

/** Runs argv in the operator's namespace and returns what it printed on stdout (a failure carries its last lines). */
export async function inOperatorNamespaceOutput(argv: string[]): Promise<string> {
  const { stdout } = await run(["ip", "netns", "exec", OPERATOR_NS, ...argv], {
    env: operatorEnv(process.env),
    timeoutMs: 600_000,
  });
  return stdout;
}
