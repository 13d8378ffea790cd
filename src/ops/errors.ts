/** The errors of engine operations, apart from the engine module so that commands can name them cheaply. */
import { CutoverError } from "../model/errors";

/**
 * Another operator holds the stack: a cutover command's hold (see hold.ts), or the engine's lock of
 * an update (a team mate's, or an engine that was killed). `holder` says who, and since when.
 */
export class StackBusyError extends CutoverError {
  constructor(
    stack: string,
    readonly holder?: string,
  ) {
    super(
      holder && !holder.startsWith("the engine")
        ? `stack ${stack} is busy: held by ${holder}. Nothing was changed; wait for that command to finish, then run this one again (its guards will see what it did).`
        : `stack ${stack} is busy: another update holds its lock${holder ? ` (${holder})` : ""}. Nothing was changed; wait for it to finish; if no other update runs (an engine was killed), clear the lock with pulumi cancel --yes --stack ${stack}, then run the command again.`,
    );
  }
}

/** Who holds the engine's lock, from the DIY backend's message ("created by user@host (pid N) at TIME"). Pure. */
export function engineLockHolder(message: string): string | undefined {
  const m = /created by (\S+) \(pid (\d+)\) at (\S+)/.exec(message);
  return m ? `the engine's lock, taken by ${m[1]} pid ${m[2]} at ${m[3]}` : undefined;
}

/** An engine operation failed: the message is the engine's own error lines. */
export class EngineError extends CutoverError {
  constructor(
    readonly operation: string,
    readonly stack: string,
    readonly lines: string[],
  ) {
    super(`the engine's ${operation} of ${stack} failed:\n${lines.map((l) => `  ${l}`).join("\n")}`);
  }
}
