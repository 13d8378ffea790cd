/**
 * What every command shares: the exit-code table, errors turned into exit codes by their class,
 * one main wrapper, the stack argument, --version, progress on stderr and confirmation on a
 * terminal. Commands hold no business logic; this holds no domain logic.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline/promises";
import { Command, InvalidArgumentError, Option } from "commander";
import { CutoverError, InputError } from "../src/model/errors";
import type { Phase } from "../src/model/inventory";
import { PROJECT_DIR, STACKS_DIR } from "../src/model/stack-file";
import { terminalSafe } from "../src/model/text";
import { StackBusyError } from "../src/ops/errors";
import type { PhaseStatus } from "../src/ops/outcome";

/** The exit codes of every command but drift (which has its own: see DRIFT_EXIT_HELP). */
export const EXIT = {
  done: 0,
  failed: 1,
  badInput: 2,
  refused: 3,
  verificationFailed: 4,
  declined: 5,
  unverified: 6,
  busy: 7,
} as const;

/** The table, as every --help and the README print it. */
export const EXIT_HELP = `
Exit codes:
  0  done and verified
  1  the engine or a host failed
  2  bad input, nothing changed
  3  refused by a guard
  4  applied, but the verification failed
  5  not confirmed
  6  applied but NOT verified
  7  the stack is busy (another operator holds it, or an update holds its lock): nothing changed`;

export const DRIFT_EXIT_HELP = `
Exit codes:
  0  clean (notes allowed)
  1  drift: the live world differs from the plan
  2  could not check everything (a server unreachable, a probe timed out, bad input): never clean`;

/** verify changes nothing: its codes say what it found (the table's 0, 4 and 6), or why it could not look. */
export const VERIFY_EXIT_HELP = `
Exit codes:
  0  verified: every mail flow in its right mailbox, entered at the planned host; the gateway address
     answered by its planned holder; every server refusing to relay; every TLS key published
  1  the engine or a host failed
  2  bad input (an unknown stack, a stack that has deployed nothing)
  4  the verification failed: the live world is not the phase the stack recorded
  6  could not check everything (a check had no clear answer, no SSH key in the stack): not verified`;

/** Progress and errors on stderr; control characters from input or hosts written as \uXXXX, never sent to the terminal. */
export const progress = (m: string) => process.stderr.write(`${terminalSafe(m)}\n`);

/** The exit code of a phase or rollback outcome. */
export const exitForStatus = (status: PhaseStatus): number =>
  ({
    done: EXIT.done,
    unverified: EXIT.unverified,
    refused: EXIT.refused,
    declined: EXIT.declined,
    "verification-failed": EXIT.verificationFailed,
  })[status];

/** The exit code for an error, by its class. */
export function exitCodeOf(e: unknown): number {
  if (e instanceof InputError) return EXIT.badInput;
  if (e instanceof StackBusyError) return EXIT.busy;
  return EXIT.failed;
}

/**
 * Prints an error: a CutoverError's message alone (it says what to do); anything else is a bug in
 * cutover, printed with its stack trace.
 */
export function report(e: unknown): void {
  if (e instanceof CutoverError) progress(e.message);
  else progress(`unexpected error (a bug in cutover; please report it with this trace):\n${e instanceof Error ? e.stack : String(e)}`);
}

/** Runs a command's work and exits with its code; an error exits with the code of its class. */
export function main(work: () => Promise<number>): void {
  work()
    .catch((e: unknown) => {
      report(e);
      return exitCodeOf(e);
    })
    .then(exitWhenWritten);
}

/**
 * Exits once stdout and stderr have handed everything written to them on: into a pipe or an SSH
 * channel Node writes asynchronously, and process.exit() drops what is still queued (a plan's
 * JSON through `| cat` arrived cut at 64 KiB). A write's callback runs after every earlier write.
 */
export async function exitWhenWritten(code: number): Promise<never> {
  const written = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.write("", () => resolve()));
  await Promise.all([written(process.stdout), written(process.stderr)]);
  process.exit(code);
}

const VERSION = (JSON.parse(readFileSync(join(PROJECT_DIR, "package.json"), "utf8")) as { version: string }).version;

/**
 * A command with --version, the exit-code table in its --help, and usage errors (an unknown
 * option, a bad argument) exiting 2 after commander's one-line message.
 */
export function command(name: string, description: string, exitHelp = EXIT_HELP): Command {
  return new Command(name)
    .description(description)
    .version(VERSION, "--version", "print cutover's version")
    .addHelpText("after", exitHelp)
    .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : EXIT.badInput));
}

/** The stacks that have a stacks/Pulumi.<name>.yaml. */
export const knownStacks = () =>
  readdirSync(STACKS_DIR)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => Boolean(s))
    .sort();

/** The stack a command names, by -s/--stack or as its first argument; an unknown one is bad input. */
export function stackOf(cmd: Command, positional: string | undefined): string {
  const option = cmd.opts<{ stack?: string }>().stack;
  if (option && positional && option !== positional)
    throw new InputError(`the stack is named twice (${positional} and --stack ${option}): name it once`);
  const name = option ?? positional;
  const stacks = knownStacks();
  if (!name) throw new InputError(`name a stack with -s/--stack: ${stacks.join(", ")}`);
  if (!stacks.includes(name))
    throw new InputError(
      `no stack ${name}: stacks/Pulumi.${name}.yaml does not exist. Stacks here: ${stacks.join(", ") || "none"} (lab stacks are made by npm run lab -- up --stack lab-<name>)`,
    );
  return name;
}

export const stackOption = () => new Option("-s, --stack <name>", "the stack (as stacks/Pulumi.<name>.yaml names it)");

/** Parses a phase argument: 1..5. */
export function phaseArgument(v: string): Phase {
  if (!/^[1-5]$/.test(v)) throw new InvalidArgumentError("a phase is 1, 2, 3, 4 or 5");
  return Number(v) as Phase;
}

/** The phase a command was given as an argument: 1..5, or bad input naming the argument. */
export function requirePhase(v: string | undefined, what = "<n>"): Phase {
  if (!v || !/^[1-5]$/.test(v))
    throw new InputError(`${what}: ${v === undefined ? "missing" : JSON.stringify(v)}; a phase is 1, 2, 3, 4 or 5`);
  return Number(v) as Phase;
}

/** Parses a positive whole number argument. */
export const positive = (what: string) => (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`${what} is a positive whole number`);
  return Number(v);
};

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

/** Writes a report to stdout; control characters (a hostile server's banner, say) written as \uXXXX. */
export const printText = (text: string) => process.stdout.write(terminalSafe(text));

/** Writes machine output (JSON) to stdout. */
export const printJson = (value: unknown) => process.stdout.write(`${terminalSafe(JSON.stringify(value, null, 2))}\n`);
