/**
 * What the stack commands (phase, rollback, preview, drift) share: naming the stack, opening it on
 * its backend, and running from the lab's operator namespace when it is a lab stack (lab hosts are
 * reached only from inside the lab).
 */
import type { Command } from "commander";
import { labDaemonFaults, labPresent } from "../lab/lab";
import { isLabStack, LAB_PASSPHRASE, LAB_PASSPHRASE_SOURCE, labBackendUrl } from "../lab/lab-stack";
import { inOperatorNamespace } from "../lab/namespaces";
import { CutoverError, InputError } from "../src/model/errors";
import { obtainEngine } from "../src/ops/engine";
import { MigrationStack } from "../src/ops/stack";
import { progress, stackOf } from "./cli";

/**
 * The stack and the other positional arguments of a command whose stack is either its first
 * argument or -s/--stack: with --stack, every positional belongs to the rest.
 */
export function stackAndArguments(cmd: Command, rest: number): { stack: string; args: (string | undefined)[] } {
  const given = cmd.args;
  if (given.length > rest + 1) throw new InputError(`too many arguments: ${given.join(" ")}; see --help`);
  const byOption = cmd.opts<{ stack?: string }>().stack !== undefined;
  const [positional, args] = byOption && given.length <= rest ? [undefined, given] : [given[0], given.slice(1)];
  return { stack: stackOf(cmd, positional), args: Array.from({ length: rest }, (_, k) => args[k]) };
}

/**
 * Lab stacks run from the lab's operator namespace: re-runs this command there and returns its
 * exit code, or undefined when already there or not a lab stack.
 */
export async function inLabNamespace(stack: string): Promise<number | undefined> {
  if (!isLabStack(stack) || process.env.CUTOVER_IN_LAB) return undefined;
  if (!(await labPresent())) throw new CutoverError(`${stack} is a lab stack and the lab is not up: npm run lab -- up --stack ${stack}`);
  // A daemon down on a lab host is what a real host can have too: say so, and let the command find out what it means.
  for (const fault of await labDaemonFaults()) progress(`lab: ${fault}`);
  return inOperatorNamespace([process.execPath, require.resolve("tsx/cli"), process.argv[1], ...process.argv.slice(2)]);
}

/** The stack on its backend: lab stacks on the lab's backend (see labBackendUrl) with the lab passphrase. */
export async function openStack(name: string): Promise<MigrationStack> {
  const engine = await obtainEngine(progress);
  return MigrationStack.open(name, {
    engine,
    progress,
    ...(isLabStack(name)
      ? { backendUrl: labBackendUrl(), passphrase: LAB_PASSPHRASE, passphraseSource: LAB_PASSPHRASE_SOURCE, offline: true }
      : {}),
  });
}
