/**
 * Cheaper stack traces for what @pulumi/pulumi records of every resource and promise, in the
 * program's process. The SDK takes a whole stack trace for each resource it registers (its source
 * position, `Resource.callsites`, with no depth limit) and one for each promise it makes (the context
 * of a leak report, `debuggablePromise`), and reads each as text at once. The ts-node the engine
 * runs the program with maps every frame of every trace through the source maps as it does: for the
 * scale bench's 415 resources, 1.3 s of the program's 2.0 s of its own work. Those two traces get
 * V8's own frames (the compiled positions, a line or two off the TypeScript's); any other trace, an
 * error the program throws included, is still mapped.
 */

type PrepareStackTrace = (error: Error, frames: NodeJS.CallSite[]) => unknown;

/** Whether a trace is one the SDK takes for its records rather than for an error. */
function isBookkeeping(frames: NodeJS.CallSite[]): boolean {
  // Resource.callsites lifts the depth limit for its trace; debuggablePromise takes its own at the top.
  return Error.stackTraceLimit === Number.POSITIVE_INFINITY || frames[0]?.getFunctionName() === "debuggablePromise";
}

/** A trace as V8 writes it when nothing is installed. */
const unmapped = (error: Error, frames: NodeJS.CallSite[]) => `${error}${frames.map((f) => `\n    at ${f}`).join("")}`;

/** Installs the cheaper traces over the mapping one in place (ts-node's); does nothing when none is. Returns the undo. */
export function plainBookkeepingStacks(): () => void {
  const mapped = Error.prepareStackTrace as PrepareStackTrace | undefined;
  if (!mapped) return () => {};
  const cheaper: PrepareStackTrace = (error, frames) => (isBookkeeping(frames) ? unmapped(error, frames) : mapped(error, frames));
  Error.prepareStackTrace = cheaper;
  return () => {
    if (Error.prepareStackTrace === cheaper) Error.prepareStackTrace = mapped;
  };
}
