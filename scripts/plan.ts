/** npm run plan: print the plan of a stack's phases, read from its stack file (no engine, no network). */
import { Command, InvalidArgumentError } from "commander";
import { InventoryError, PHASES, type Phase } from "../src/model/inventory";
import type { Plan } from "../src/model/plan";
import { stackPlan } from "../src/model/stack-file";

const program = new Command("plan")
  .description("Print what each phase means for a stack: DNS records, routing per gateway, gateway identity, mail flows.")
  .option("-s, --stack <name>", "stack whose stacks/Pulumi.<name>.yaml is read", "pilot")
  .option("-p, --phase <n>", "only this phase (1..5); default: every phase", (v) => {
    const n = Number(v);
    if (!PHASES.includes(n as Phase)) throw new InvalidArgumentError("phase must be 1..5");
    return n as Phase;
  })
  .option("--json", "print the plan as JSON")
  .addHelpText("after", "\nExit codes: 0 printed, 1 the inventory is invalid (each problem names the field and the fix), 2 bad arguments.")
  .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2))
  .parse();

const opts = program.opts<{ stack: string; phase?: Phase; json?: boolean }>();

try {
  const phases = opts.phase ? [opts.phase] : [...PHASES];
  const plans = phases.map((ph) => stackPlan(opts.stack, ph));
  process.stdout.write(opts.json ? `${JSON.stringify(plans, null, 2)}\n` : plans.map(describe).join("\n"));
} catch (e) {
  if (e instanceof InventoryError) {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
  throw e;
}

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
