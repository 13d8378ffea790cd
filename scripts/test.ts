/**
 * npm test: obtain the Pulumi engine and actionlint, build the lab, run every test from the lab's operator
 * namespace (no lab client ever runs in the root namespace), and tear the lab down, also after a
 * failure or Ctrl-C.
 */
import { spawn } from "node:child_process";
import { Command } from "commander";
import { labDown, labUp, OPERATOR_NS } from "../lab/lab";
import { obtainActionlint } from "../src/ops/actionlint";
import { obtainEngine } from "../src/ops/engine";

const program = new Command("test")
  .description("Run the test suite against a freshly built lab (root). Extra arguments go to vitest.")
  .option("--keep-lab", "leave the lab up afterwards")
  .allowUnknownOption()
  .argument("[vitest args...]")
  .addHelpText("after", "\nExit codes: vitest's (0 all passed, 1 failures); 2 the lab, the engine or actionlint could not be set up.")
  .parse();
const opts = program.opts<{ keepLab?: boolean }>();
const progress = (m: string) => process.stderr.write(`${m}\n`);

async function main(): Promise<number> {
  try {
    // The engine (a Go build the first time) and the lab come up side by side.
    const [engine] = await Promise.all([obtainEngine(progress), labUp(progress), obtainActionlint(progress)]);
    progress(`test: engine v${engine.version} from ${engine.source === "path" ? "PATH" : engine.binDir}`);
  } catch (e) {
    progress(`test: the lab or the engine could not be set up: ${(e as Error).message}`);
    await labDown(progress);
    return 2;
  }
  const vitest = require.resolve("vitest/package.json").replace(/package\.json$/, "vitest.mjs");
  const child = spawn("ip", ["netns", "exec", OPERATOR_NS, process.execPath, vitest, "run", ...program.args], {
    stdio: "inherit",
    env: { ...process.env, CUTOVER_IN_LAB: "1" },
  });
  const stop = () => child.kill("SIGINT");
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const code = await new Promise<number>((resolve) => child.on("exit", (c, signal) => resolve(c ?? (signal ? 130 : 1))));
  if (!opts.keepLab) await labDown(progress);
  return code;
}

main().then((code) => process.exit(code));
