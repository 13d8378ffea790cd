/**
 * Runs on the outside host: greets the gateway address every INTERVAL ms for at most MAX seconds
 * (or until SIGTERM) and prints one JSON sample per probe. Started by the rehearsal.
 */
import { Command } from "commander";
import { probeLoop } from "../lab/prober";

const program = new Command("probe-gateway")
  .description("Connect to ADDRESS:25 every INTERVAL ms and print {t, banner} per attempt as JSON lines.")
  .argument("<address>")
  .argument("[interval]", "milliseconds between probes", "20")
  .argument("[max]", "seconds before stopping by itself", "120")
  .parse();
const [address, interval, max] = program.args;
let stop = false;
process.on("SIGTERM", () => (stop = true));
probeLoop(
  address,
  Number(interval),
  Number(max),
  (s) => process.stdout.write(`${JSON.stringify(s)}\n`),
  () => stop,
).then(() => process.exit(0));
