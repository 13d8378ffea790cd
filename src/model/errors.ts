/**
 * Errors meant for the person running cutover. Their message says what is wrong and what to do
 * about it, so commands print it without a stack trace, and the Pulumi program rethrows it as a
 * RunError (the CLI then prints the message alone). Anything else is a bug and keeps its trace.
 */
export class CutoverError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad input: an inventory, a stack name, a file or an argument. Nothing was changed. */
export class InputError extends CutoverError {}
