/** The errors of engine operations, apart from the engine module so that commands can name them cheaply. */
import { CutoverError } from "../model/errors";

/** Another update holds the stack's lock (a team mate's, or an engine that was killed). */
export class StackBusyError extends CutoverError {
  constructor(stack: string) {
    super(
      `stack ${stack} is busy: another update holds its lock. Wait for it to finish; if no other update runs (an engine was killed), clear the lock with pulumi cancel --yes --stack ${stack}, then run the command again.`,
    );
  }
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
