/**
 * The real engine's preview of a new pilot-shaped stack (the pilot's inventory with N mailboxes):
 * wall time and the peak memory of the whole process tree (CLI, language host, program, provider).
 */

import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { CONFIG } from "../../src/model/config-keys";
import { STACKS_DIR } from "../../src/model/stack-file";
import { obtainEngine } from "../../src/ops/engine";
import { localBackendUrl, MigrationStack } from "../../src/ops/stack";

const FAKE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

/** Resident memory of `root` and every process below it, summed. */
function treeRssKiB(root: number): number {
  const parent = new Map<number, number>();
  const rss = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(d), Number(fields[1]));
      rss.set(Number(d), (Number(fields[21]) * 4096) / 1024);
    } catch {
      /* gone */
    }
  }
  const below = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  let sum = 0;
  for (const [pid, kib] of rss) if (pid === root || below(pid)) sum += kib;
  return sum;
}

export async function engineBench(mailboxes: number): Promise<{ seconds: number; peakMiB: number; resources: number }> {
  const engine = await obtainEngine((m) => process.stderr.write(`${m}\n`));
  const name = `lab-bench-${mailboxes}`;
  const file = `mailboxes.bench-${mailboxes}.csv`;
  const lines = [
    "address,home,postOffice",
    ...Array.from({ length: mailboxes }, (_, i) => `user${i}@paradigms.test,${i % 4 === 0 ? "new" : "legacy"},hq`),
  ];
  writeFileSync(join(STACKS_DIR, file), `${lines.join("\n")}\n`);
  const doc = parse(readFileSync(join(STACKS_DIR, "Pulumi.pilot.yaml"), "utf8"));
  doc.config[CONFIG.inventory].mailboxes = file;
  doc.config[CONFIG.phase] = 4;
  doc.config[CONFIG.hostKeys] = { legacy: FAKE_KEY, new: FAKE_KEY, internet: FAKE_KEY };
  writeFileSync(join(STACKS_DIR, `Pulumi.${name}.yaml`), stringify(doc));
  const stack = await MigrationStack.open(name, { engine, backendUrl: localBackendUrl(), offline: true, passphrase: "cutover-bench" });
  try {
    await stack.setConfig({
      [CONFIG.sshPrivateKey]: { value: "bench-key", secret: true },
      [CONFIG.tsigSecret]: { value: "bench-secret", secret: true },
    });
    let peak = 0;
    const timer = setInterval(() => (peak = Math.max(peak, treeRssKiB(process.pid))), 100);
    const r = await stack.preview();
    clearInterval(timer);
    return { seconds: r.seconds, peakMiB: peak / 1024, resources: r.steps.length };
  } finally {
    await stack.remove();
    rmSync(join(STACKS_DIR, file), { force: true });
  }
}
