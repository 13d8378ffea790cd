/** The steps bench as a Markdown table: one column per step, one row per part, in ms. Pure. */
import type { EngineRunParts, StepParts, StepsBench } from "./steps";

const ms = (n: number) => `${Math.round(n)}`;

const RUN_PARTS: [keyof Omit<EngineRunParts, "command" | "total">, string][] = [
  ["cliStart", "CLI start (backend, plugins, language host)"],
  ["providerStart", "provider start (Node.js, @pulumi/pulumi, tsx, effects' code; the program's modules load beside it)"],
  ["refresh", "refresh: every resource read over SSH"],
  ["programLoad", "program start (Node.js, @pulumi/pulumi, ts-node, index.ts registering the provider)"],
  ["resourceOperations", "resource operations (register, diff, apply over SSH)"],
  ["cliFinish", "CLI finish (last checkpoint)"],
];

export function stepsTable(b: StepsBench): string {
  const rows: [string, (s: StepParts) => string][] = [
    ["stack commands (config, tags, history, state: count)", (s) => `${ms(s.stackCommands)} (${s.stackCommandCount})`],
  ];
  const runs = Math.max(...b.steps.map((s) => s.engineRuns.length));
  for (let i = 0; i < runs; i++) {
    const run = (s: StepParts) => s.engineRuns[i];
    for (const [key, label] of RUN_PARTS) rows.push([`engine run ${i + 1}: ${label}`, (s) => (run(s) ? ms(run(s)![key]) : "-")]);
    rows.push([`engine run ${i + 1}, whole`, (s) => (run(s) ? `**${ms(run(s)!.total)}** (${run(s)!.command})` : "-")]);
  }
  rows.push(
    ["verification (a message per flow, relay test)", (s) => ms(s.verification)],
    ["other (cutover: plan, guards, pre-flight SSH, tsx start)", (s) => ms(s.other)],
    ["**whole step**", (s) => `**${ms(s.total)}**`],
  );
  const head = `| part (ms) | ${b.steps.map((s) => s.step).join(" | ")} |\n|---|${b.steps.map(() => "---").join("|")}|\n`;
  const body = rows.map(([label, cell]) => `| ${label} | ${b.steps.map(cell).join(" | ")} |`).join("\n");
  return `${head}${body}\n\nOne SSH session to the new server: ${ms(b.sshSessionMs)} ms; a command round trip on it: ${ms(b.sshRoundTripMs)} ms; \`postfix reload\` there: ${ms(b.postfixReloadMs)} ms.\n`;
}
