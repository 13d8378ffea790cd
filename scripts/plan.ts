/** npm run plan: print the plan of a stack's phases, read from its stack file (no engine, no network). */
import { PHASES, type Phase } from "../src/model/inventory";
import type { Plan } from "../src/model/plan";
import { stackPlan } from "../src/model/stack-file";
import { command, EXIT, main, phaseArgument, printJson, printText, stackOf, stackOption } from "./cli";

const program = command("plan", "Print what each phase means for a stack: DNS records, routing per gateway, gateway identity, mail flows.")
  .usage("[options] [stack]  |  -s <stack>")
  .argument("[stack]", "stack name (default: pilot)")
  .addOption(stackOption())
  .option("-p, --phase <n>", "only this phase (1..5); default: every phase", phaseArgument)
  .option("--json", "print the plans as JSON")
  .parse();

const opts = program.opts<{ stack?: string; phase?: Phase; json?: boolean }>();

main(async () => {
  const stack = stackOf(program, program.args[0] ?? (opts.stack ? undefined : "pilot"));
  const plans = (opts.phase ? [opts.phase] : [...PHASES]).map((phase) => stackPlan(stack, phase));
  if (opts.json) printJson(plans);
  else printText(plans.map(describe).join("\n"));
  return EXIT.done;
});

function describe(p: Plan): string {
  const lines = [
    `Phase ${p.phase} (${p.stage}): gateway ${p.gateway.hostName} ${p.gateway.address} held by ${p.gateway.holder} (go-live: ${p.gateway.strategy})`,
  ];
  for (const z of p.zones) {
    lines.push(`  zone ${z.name} on ${z.provider}`);
    for (const r of z.records)
      lines.push(`    ${r.name.padEnd(28)} ${String(r.ttl).padStart(5)} ${r.type.padEnd(5)} ${r.values.join(", ")}`);
  }
  for (const t of p.routing) {
    const perUser = t.relays.filter((r) => r.recipient.includes("@")).length;
    lines.push(
      `  routing on ${t.host}: ${t.domains.length} domains, ${t.mailboxes.length} local mailboxes, ${perUser} users and ${t.relays.length - perUser} domains relayed`,
    );
    for (const r of t.relays.slice(0, 5)) lines.push(`    ${r.recipient} -> ${r.to} [${r.nextHop}]`);
    if (t.relays.length > 5) lines.push(`    ... ${t.relays.length - 5} more`);
  }
  const outside = p.flows.filter((f) => f.from === "outside");
  lines.push(`  flows: ${p.flows.length} (${outside.length} from outside)`);
  return `${lines.join("\n")}\n`;
}
