/**
 * Runs on the outside host: greets the gateway address every INTERVAL ms for at most MAX seconds
 * (or until SIGTERM) and prints one JSON sample per probe. Started by the rehearsal.
 */
import { probeLoop } from "../lab/prober";
import { command, exitWhenWritten } from "./cli";

const program = command(
  "probe-gateway",
  "Connect to ADDRESS:25 every INTERVAL ms and print {t, banner, server} per attempt as JSON lines (run by the rehearsal on the outside host).",
  "\nExit codes: 0 stopped (after MAX seconds or SIGTERM), 2 bad arguments.",
)
  .argument("<address>")
  .argument("[interval]", "milliseconds between probes", "20")
  .argument("[max]", "seconds before stopping by itself", "120")
  .argument("[recipient]", "if given, every 5th probe goes on to DATA for it (then hangs up: nothing is delivered)")
  .parse();
const [address, interval, max, recipient] = program.args;
let stop = false;
process.on("SIGTERM", () => (stop = true));
probeLoop(
  address,
  Number(interval),
  Number(max),
  (s) => process.stdout.write(`${JSON.stringify(s)}\n`),
  () => stop,
  recipient,
).then(() => exitWhenWritten(0));
