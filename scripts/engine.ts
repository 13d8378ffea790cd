/** npm run engine: obtain the Pulumi engine (CLI + Node.js language host) and print where it is. */
import { Command } from "commander";
import { obtainEngine } from "../src/ops/engine";

const program = new Command("engine")
  .description(
    "Use pulumi from PATH when it is the pinned version or newer; otherwise build it from the Go module proxy into ~/.cache/cutover/pulumi/<version>/bin.",
  )
  .option("--rebuild", "build even when a usable engine exists")
  .option("--json", "print the result as JSON")
  .addHelpText("after", "\nExit codes: 0 the engine is ready (its bin directory is printed), 1 it could not be obtained.")
  .parse();
const opts = program.opts<{ rebuild?: boolean; json?: boolean }>();

obtainEngine((m) => process.stderr.write(`${m}\n`), { rebuild: opts.rebuild })
  .then((e) => process.stdout.write(opts.json ? `${JSON.stringify(e)}\n` : `${e.binDir}\n`))
  .catch((e) => {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(1);
  });
