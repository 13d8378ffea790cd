/** The errors of engine operations, apart from the engine module so that commands can name them cheaply. */
import { CutoverError, InputError } from "../model/errors";

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

/**
 * The command's hold of the stack ended before its update started (the PostgreSQL session was
 * terminated, the server restarted or failed over, idle_session_timeout): another operator may have
 * taken the stack since, so this command changes nothing. Exits as a busy stack does.
 */
export class HoldLostError extends StackBusyError {
  constructor(stack: string, why: string) {
    super(stack, "nobody now");
    this.message = `stack ${stack}: this command's hold of it was lost before its update started (${why}): another operator may hold it now. Nothing was changed; run the command again.`;
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

/**
 * The stack's secrets could not be decrypted: the passphrase is wrong. Nothing was changed (the
 * engine refuses before it reads or writes anything); `source` says where the passphrase came from.
 */
export class WrongPassphraseError extends InputError {
  constructor(stack: string, source: string) {
    super(
      `the passphrase for the secrets of stack ${stack} is wrong: nothing was changed. It came from ${source}; give the right one and run the command again.`,
    );
  }
}

/** Whether an engine command failed on the passphrase (its message or its stderr says so). Pure. */
export function failedOnPassphrase(e: unknown): boolean {
  const stderr = (e as { commandResult?: { stderr?: string } } | undefined)?.commandResult?.stderr ?? "";
  return /incorrect passphrase/.test(`${e instanceof Error ? e.message : String(e)}\n${stderr}`);
}
