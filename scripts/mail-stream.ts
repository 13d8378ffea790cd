/**
 * Runs on the outside host: hands RATE messages a second for SECONDS seconds to the host's own MTA
 * (its sendmail command), recipients in turn, and prints one JSON line per message handed over.
 * Started by the zero-loss runs (lab/stream.ts).
 */
import { spawn } from "node:child_process";
import { command, exitWhenWritten } from "./cli";

const program = command(
  "mail-stream",
  "Hand a steady stream of marked messages to this host's MTA; print {seq, to, marker, t} per message as JSON lines (run by the zero-loss runs on the outside host).",
  "\nExit codes: 0 the stream ended (refused messages carry an error field), 2 bad arguments.",
)
  .requiredOption("--tag <tag>", "marker prefix: message n carries <tag>-<n> in its subject and body")
  .requiredOption("--from <address>", "envelope sender")
  .requiredOption("--to <addresses>", "comma-separated recipients, used in turn")
  .option("--rate <n>", "messages per second", "25")
  .option("--seconds <n>", "how long", "30")
  .parse();
const o = program.opts<{ tag: string; from: string; to: string; rate: string; seconds: string }>();
const recipients = o.to.split(",");
const [rate, seconds] = [Number(o.rate), Number(o.seconds)];
let stopped = false;
process.on("SIGTERM", () => (stopped = true));

function hand(seq: number): Promise<void> {
  const to = recipients[seq % recipients.length];
  const marker = `${o.tag}-${seq}`;
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn("/usr/sbin/sendmail", ["-i", "-f", o.from, "--", to], { stdio: ["pipe", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => {
      process.stdout.write(
        `${JSON.stringify(code === 0 ? { seq, to, marker, t: started } : { seq, to, marker, t: started, error: err.trim() || `sendmail exited ${code}` })}\n`,
      );
      resolve();
    });
    child.stdin.end(`From: <${o.from}>\nTo: <${to}>\nSubject: ${marker}\n\n${marker}\n`);
  });
}

async function main() {
  const start = Date.now();
  const pending: Promise<void>[] = [];
  for (let seq = 0; seq < rate * seconds && !stopped; seq++) {
    const due = start + (seq * 1000) / rate;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    pending.push(hand(seq));
  }
  await Promise.all(pending);
}
main().then(() => exitWhenWritten(0));
