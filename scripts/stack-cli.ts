/**
 * What the stack commands (phase, rollback) share: opening the stack on its backend, asking for
 * confirmation on a terminal, and running from the lab's operator namespace when the stack is a
 * lab stack (lab hosts are reached only from inside the lab).
 */

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline/promises";
import { stripVTControlCharacters } from "node:util";
import { labHealthy, OPERATOR_NS } from "../lab/lab";
import { LAB_PASSPHRASE } from "../lab/lab-stack";
import { InventoryError } from "../src/model/inventory";
import { STACKS_DIR } from "../src/model/stack-file";
import { obtainEngine } from "../src/ops/engine";
import type { PhaseStatus } from "../src/ops/phase";
import { localBackendUrl, MigrationStack } from "../src/ops/stack";

export const progress = (m: string) => process.stderr.write(`${m}\n`);

/** Exit codes of the stack commands. */
export const EXIT = { done: 0, failed: 1, badInput: 2, refused: 3, verificationFailed: 4, declined: 5 } as const;

export const EXIT_HELP = `
Exit codes:
  0  applied and verified (or applied; the verification could not run and says why)
  1  the engine or a host failed; the stack's history records the failed update
  2  bad input: unknown stack, invalid inventory or phase (nothing was changed)
  3  refused by a guard (nothing was changed; --force overrides and is recorded)
  4  applied, but the verification failed
  5  not confirmed (nothing was changed)`;

/** The exit code of a phase or rollback outcome. */
export const exitForStatus = (status: PhaseStatus): number =>
  ({
    done: EXIT.done,
    unverified: EXIT.done,
    refused: EXIT.refused,
    declined: EXIT.declined,
    "verification-failed": EXIT.verificationFailed,
  })[status];

export const isLabStack = (name: string) => name.startsWith("lab-");

/**
 * Lab stacks run from the lab's operator namespace: re-runs this command there and returns its
 * exit code, or undefined when already there or not a lab stack.
 */
export async function inLabNamespace(stack: string): Promise<number | undefined> {
  if (!isLabStack(stack) || process.env.CUTOVER_IN_LAB) return undefined;
  if (!(await labHealthy())) {
    progress(`${stack} is a lab stack and the lab is down: npm run lab -- up --stack ${stack}`);
    return EXIT.badInput;
  }
  const tsx = require.resolve("tsx/cli");
  const child = spawn("ip", ["netns", "exec", OPERATOR_NS, process.execPath, tsx, process.argv[1], ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, CUTOVER_IN_LAB: "1" },
  });
  process.on("SIGINT", () => child.kill("SIGINT"));
  return new Promise((r) => child.on("exit", (c, s) => r(c ?? (s ? 130 : 1))));
}

export async function openStack(name: string): Promise<MigrationStack> {
  if (!existsSync(join(STACKS_DIR, `Pulumi.${name}.yaml`))) {
    throw new InventoryError([
      {
        path: "stack",
        message: `no stacks/Pulumi.${name}.yaml: name an existing stack (pilot, production, or a lab-* stack made by npm run lab -- up --stack lab-<name>)`,
      },
    ]);
  }
  const engine = await obtainEngine(progress);
  return MigrationStack.open(name, {
    engine,
    progress,
    ...(isLabStack(name) ? { backendUrl: localBackendUrl(), passphrase: LAB_PASSPHRASE } : {}),
  });
}

/** Asks on the terminal; with no terminal, the answer is no. */
export async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    progress(`${question} No terminal to ask on: run again with --yes to apply without asking.`);
    return false;
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/** The exit code for an error thrown by a command: bad input or a failure. */
export function exitFor(e: unknown): number {
  const message = e instanceof Error ? e.message : String(e);
  progress(
    stripVTControlCharacters(message)
      .split("\n")
      .filter((l) => l.trim())
      .slice(0, 12)
      .join("\n"),
  );
  if (e instanceof InventoryError) return EXIT.badInput;
  if (/currently locked/i.test(message))
    progress(
      "The stack is locked. If no other update runs on it (an engine was killed), clear the lock with: pulumi cancel --yes --stack <stack>, then run the command again.",
    );
  return EXIT.failed;
}
