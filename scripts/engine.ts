/** npm run engine: obtain the Pulumi engine (CLI + Node.js language host) and print where it is. */
import { obtainEngine } from "../src/ops/engine";
import { command, EXIT, main, printJson, progress } from "./cli";

const program = command(
  "engine",
  "Use pulumi from PATH when it is the pinned version or newer; otherwise build it from the Go module proxy into ~/.cache/cutover/pulumi/<version>/bin. Prints the bin directory.",
)
  .option("--rebuild", "build even when a usable engine exists")
  .option("--json", "print the result as JSON")
  .parse();
const opts = program.opts<{ rebuild?: boolean; json?: boolean }>();

main(async () => {
  const engine = await obtainEngine(progress, { rebuild: opts.rebuild });
  if (opts.json) printJson(engine);
  else process.stdout.write(`${engine.binDir}\n`);
  return EXIT.done;
});
