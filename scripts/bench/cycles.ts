/**
 * Issue 23's long zero-loss run (`npm run bench -- --only cycles`, root: it builds the lab): a lab
 * stack at phase 4, then ten go-live/rollback cycles through the phase and rollback commands while
 * the outside MTA streams 25 messages a second for five minutes. Every message handed over must end
 * in exactly one mailbox, the right one.
 */
import { readLabDescription } from "../../lab/lab";
import { openLabStack, removeLabStack } from "../../lab/lab-stack";
import { summaryLine, writeZeroLossReport, zeroLossRun } from "../../lab/zero-loss";
import type { Phase } from "../../src/model/inventory";
import { obtainEngine } from "../../src/ops/engine";
import { runPhase } from "../../src/ops/phase";

export interface CyclesBench {
  summary: string;
  sent: number;
  delivered: number;
  duplicated: number;
  lost: number;
  misdelivered: number;
  /** Each command of the run: its name, how it ended and how long it took. */
  commands: { name: string; status: string; seconds: number }[];
  report: string;
}

export async function cyclesBench(progress: (line: string) => void, cycles = 10, seconds = 300): Promise<CyclesBench> {
  const lab = readLabDescription();
  const stack = await openLabStack("lab-bench-cycles", lab, await obtainEngine(progress), () => {});
  try {
    for (const phase of [1, 2, 3, 4] as Phase[]) {
      progress(`bench: cycles: phase ${phase} (set-up)`);
      const o = await runPhase(stack, phase, { yes: true, progress: () => {} });
      if (o.status !== "done")
        throw new Error(
          `bench: phase ${phase} ended ${o.status}${o.refusals.map((refusal) => `; ${refusal.guard}: ${refusal.message}`).join("")}`,
        );
    }
    const r = await zeroLossRun({ stack, lab, fault: "none", cycles, seconds, rate: 25, progress });
    const { json } = await writeZeroLossReport(r);
    const took = new Map(r.events.map((e) => [e.name, (e.end - e.start) / 1000]));
    return {
      summary: summaryLine(r),
      ...r.tally,
      commands: r.commands.map((c) => ({ ...c, seconds: took.get(c.name) ?? 0 })),
      report: json,
    };
  } finally {
    await stack.destroy().catch(() => {});
    await removeLabStack(stack);
  }
}
