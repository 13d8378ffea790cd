/**
 * The stack file is the team's record of a stack's config: a preview never changes it, and a phase
 * that does not reach `up` (the engine fails, the operator presses Ctrl-C, the process is told to
 * stop) leaves it byte for byte as it was. The real commands, the real engine, a lab stack.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openLabStack, removeLabStack } from "../../lab/lab-stack";
import { CONFIG } from "../../src/model/config-keys";
import { PROJECT_DIR, STACKS_DIR } from "../../src/model/stack-file";
import { obtainEngine } from "../../src/ops/engine";
import type { MigrationStack } from "../../src/ops/stack";
import { testLab } from "../lab/env";

const lab = testLab();
let stack: MigrationStack;
const file = () => join(STACKS_DIR, `Pulumi.${stack.name}.yaml`);

beforeAll(async () => {
  stack = await openLabStack(`lab-file-${randomBytes(3).toString("hex")}`, lab.description, await obtainEngine());
}, 120_000);
afterAll(async () => {
  await removeLabStack(stack).catch(() => undefined);
}, 60_000);

/**
 * Runs a command script; once its stderr shows `when`, sends `signal`. Resolves with its exit code
 * and stderr, and whether the signal was sent (a fault test must know its fault struck).
 */
function runCommand(script: string, args: string[], opts: { env?: NodeJS.ProcessEnv; when?: RegExp; signal?: NodeJS.Signals } = {}) {
  const child = spawn(process.execPath, ["--import", "tsx", join("scripts", `${script}.ts`), ...args], {
    cwd: PROJECT_DIR,
    env: { ...process.env, CUTOVER_IN_LAB: "1", ...opts.env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  let signalled = false;
  child.stderr.on("data", (d) => {
    stderr += d;
    if (opts.when && opts.signal && !signalled && opts.when.test(stderr)) {
      signalled = true;
      child.kill(opts.signal);
    }
  });
  return new Promise<{ code: number | null; stderr: string; signalled: boolean }>((resolve) =>
    child.on("exit", (code) => resolve({ code, stderr, signalled })),
  );
}

describe("the stack file", () => {
  it("is not changed by the drift check's listing preview, which reports the program's outputs", async () => {
    const before = readFileSync(file());
    const r = await stack.preview({ config: { [CONFIG.listUnmanaged]: true } });
    expect(r.outputs?.phase).toBe(Number((await stack.config())[CONFIG.phase].value));
    const zones = Object.values(r.outputs?.zones as Record<string, { records: number; unmanaged?: string[] }>);
    expect(zones.length).toBeGreaterThan(0);
    // The lab's zones are on-prem: the drift check transfers them itself, so the program lists none.
    expect(zones.filter((z) => z.unmanaged)).toEqual([]);
    expect(r.diagnostics).toEqual([]);
    expect(readFileSync(file())).toEqual(before);
  }, 120_000);

  it("is not changed by a preview of another phase, and the preview shows that phase", async () => {
    const before = readFileSync(file());
    const r = await runCommand("preview", [stack.name, "--phase", "2"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/engine: preview lab-file-\S+ at phase 2/);
    expect(readFileSync(file())).toEqual(before);
  }, 120_000);

  it.each(["SIGINT", "SIGTERM"] as const)(
    "is not changed by a preview stopped with %s",
    async (signal) => {
      const before = readFileSync(file());
      const r = await runCommand("preview", [stack.name, "--phase", "3"], { when: /engine: preview/, signal });
      expect(r.signalled, r.stderr).toBe(true);
      expect(r.code).not.toBe(0);
      expect(readFileSync(file())).toEqual(before);
    },
    120_000,
  );

  it("is not changed by a preview whose engine fails", async () => {
    const before = readFileSync(file());
    // The fault: a wrong passphrase, so the engine cannot read the stack's secrets.
    const r = await runCommand("preview", [stack.name, "--phase", "2"], { env: { PULUMI_CONFIG_PASSPHRASE: "not-the-passphrase" } });
    // A wrong passphrase is bad input: one line, exit 2, naming where the passphrase came from.
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      /^the passphrase for the secrets of stack lab-file-\S+ is wrong: nothing was changed\. It came from PULUMI_CONFIG_PASSPHRASE \(lab stacks use it when it is set/m,
    );
    expect(readFileSync(file())).toEqual(before);
  }, 120_000);

  it.each(["SIGINT", "SIGTERM"] as const)(
    "is put back when a phase is stopped with %s before its up",
    async (signal) => {
      const before = readFileSync(file());
      const r = await runCommand("phase", [stack.name, "1", "--yes"], { when: /engine: preview/, signal });
      expect(r.signalled, r.stderr).toBe(true);
      expect(r.code).toBe(signal === "SIGINT" ? 130 : 143);
      expect(r.stderr).not.toMatch(/engine: up/);
      expect(readFileSync(file())).toEqual(before);
    },
    120_000,
  );

  it("is put back when the phase's preview fails", async () => {
    // The fault: no pinned host keys, which only the program checks, so the engine's preview fails.
    await stack.stack.removeConfig("cutover:hostKeys");
    try {
      const before = readFileSync(file());
      const r = await runCommand("phase", [stack.name, "1", "--yes"]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/engine's preview of lab-file-\S+ failed:[\s\S]*has no pinned host key/);
      expect(readFileSync(file())).toEqual(before);
    } finally {
      await openLabStack(stack.name, lab.description, await obtainEngine());
    }
  }, 120_000);
});
