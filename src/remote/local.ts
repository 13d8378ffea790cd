/**
 * Runs programs on this machine: argument vectors only, never a shell line. Lab-side commands
 * run inside a namespace through `ip netns exec`.
 */
import { execFile, spawn } from "node:child_process";

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export class CommandError extends Error {
  constructor(
    readonly argv: string[],
    readonly result: RunResult,
  ) {
    super(
      `${argv.join(" ")} exited ${result.code}: ${`${result.stderr}\n${result.stdout}`.trim().split("\n").filter(Boolean).slice(-3).join(" | ")}`,
    );
    this.name = "CommandError";
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
