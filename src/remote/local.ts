/**
 * Runs programs on this machine: argument vectors only, never a shell line.
 */

import { execFile } from "node:child_process";
import { CutoverError } from "../model/errors";

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** A local command failed: its argv, exit code and the last lines it printed. */
export class CommandError extends CutoverError {
  constructor(
    readonly argv: string[],
    readonly result: RunResult,
  ) {
    super(
      `${argv.join(" ")} exited ${result.code}: ${`${result.stderr}\n${result.stdout}`.trim().split("\n").filter(Boolean).slice(-3).join(" | ")}`,
    );
  }
}

export interface RunOptions {
  input?: string;
  /** Resolve with the result instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      argv[0],
      argv.slice(1),
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 120_000, env: opts.env ?? process.env },
      (err, stdout, stderr) => {
        const errCode = (err as { code?: unknown } | null)?.code;
        const code = !err ? 0 : typeof errCode === "number" ? errCode : errCode === "ENOENT" ? 127 : 1;
        const result = { stdout, stderr: stderr || (err && typeof errCode === "string" ? err.message : ""), code };
        if (code !== 0 && !opts.allowFailure) reject(new CommandError(argv, result));
        else resolve(result);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}
