/**
 * npm test: obtain the Pulumi engine and actionlint, build the lab, run every test from the lab's
 * operator namespace (no lab client ever runs in the root namespace), and tear the lab down, also
 * after a failure or Ctrl-C.
 */
import { labDown, labUp } from "../lab/lab";
import { inOperatorNamespace } from "../lab/namespaces";
import { obtainActionlint } from "../src/ops/actionlint";
import { obtainEngine } from "../src/ops/engine";
import { command, EXIT, main, progress, report } from "./cli";

const program = command(
  "test",
  "Run the test suite against a freshly built lab (root). Extra arguments go to vitest.",
  "\nExit codes: vitest's (0 all passed, 1 failures); 2 the lab, the engine or actionlint could not be set up.",
)
  .option("--keep-lab", "leave the lab up afterwards")
  .allowUnknownOption()
  .argument("[vitest args...]")
  .parse();
const opts = program.opts<{ keepLab?: boolean }>();

main(async () => {
  try {
    // The engine (a Go build the first time) and the lab come up side by side.
    const [engine] = await Promise.all([obtainEngine(progress), labUp(progress, { team: true }), obtainActionlint(progress)]);
    progress(`test: engine v${engine.version} from ${engine.source === "path" ? "PATH" : engine.binDir}`);
  } catch (e) {
    progress("test: the lab, the engine or actionlint could not be set up:");
    report(e);
    await labDown(progress);
    return EXIT.badInput;
  }
  const vitest = require.resolve("vitest/package.json").replace(/package\.json$/, "vitest.mjs");
  const code = await inOperatorNamespace([process.execPath, vitest, "run", ...program.args]);
  if (!opts.keepLab) await labDown(progress);
  return code;
});
