/**
 * Two operators, one stack, on the backend a team would use: Pulumi's PostgreSQL backend on
 * PostgreSQL from Debian, in a lab namespace of its own. Each operator runs the real commands from
 * a workstation (namespace) of its own, at the same moment: exactly one applies, the other exits
 * "busy" (7) naming who holds the stack and since when, having changed nothing, and the history
 * shows one update.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG } from "../../src/model/config-keys";
import { PROJECT_DIR } from "../../src/model/stack-file";
import { HoldLostError } from "../../src/ops/errors";
import { holdStack, inspectHold } from "../../src/ops/hold";
import { runPhase } from "../../src/ops/phase";
import { testLab } from "../lab/env";
import { labStackAtPhase4, progress } from "./phase-4-stack";

const lab = testLab();
let backendUrl = "";
/** The lab's team; npm test builds the lab with one (npm run lab -- up --team by hand). */
function team() {
  const t = lab.description.team;
  if (!t) throw new Error("the lab was built without its team (PostgreSQL and a second operator): npm run lab -- up --team");
  return t;
}
const stackOf = labStackAtPhase4(lab, "lab-team", undefined, async () => {
  backendUrl = team().backendUrl;
  return backendUrl;
});

interface Run {
  operator: string;
  command: string;
  code: number;
  stderr: string;
}

/** Runs an npm command script from an operator's workstation (a namespace), as that operator would; `onStderr` sees its progress as it comes. */
function runAs(operator: string, script: string, args: string[], onStderr?: (text: string) => void): Promise<Run> {
  const child = spawn("ip", ["netns", "exec", operator, process.execPath, require.resolve("tsx/cli"), `scripts/${script}.ts`, ...args], {
    cwd: PROJECT_DIR,
    env: { ...process.env, CUTOVER_IN_LAB: "1", PULUMI_BACKEND_URL: backendUrl },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
    onStderr?.(stderr);
  });
  return new Promise((resolve) =>
    child.on("exit", (code) => resolve({ operator, command: `${script} ${args.join(" ")}`, code: code ?? -1, stderr })),
  );
}

const phaseInFile = (stack: string) =>
  /^ {2}cutover:phase: "?(\d)"?$/m.exec(readFileSync(`${PROJECT_DIR}/stacks/Pulumi.${stack}.yaml`, "utf8"))?.[1];

/** Races two commands from the two workstations, started together; checks one won and one was told it was busy. */
async function race(a: [string, string[]], b: [string, string[]]) {
  const stack = stackOf();
  const [first, second] = team().operators;
  const before = await stack.history();
  const runs = await Promise.all([runAs(first, a[0], [stack.name, ...a[1]]), runAs(second, b[0], [stack.name, ...b[1]])]);
  const summary = runs
    .map((r) => `${r.operator} ${r.command}: exit ${r.code}\n${r.stderr.trim().split("\n").slice(-6).join("\n")}`)
    .join("\n---\n");
  const winner = runs.find((r) => r.code === 0);
  const loser = runs.find((r) => r.code === 7);
  expect(winner, summary).toBeDefined();
  expect(loser, summary).toBeDefined();
  // The loser was told who holds the stack, and since when.
  expect(loser!.stderr).toMatch(
    /stack lab-team-\S+ is busy: held by cutover (phase 5|rollback) \S+@\S+ pid \d+ from 198\.51\.100\.\d+, since \d{4}-\d\d-\d\dT/,
  );
  // It stopped at the hold: no preview, no config written, no update.
  expect(loser!.stderr).not.toMatch(/engine: preview|engine: up/);
  const after = await stack.history();
  expect(after.length - before.length, summary).toBe(1);
  expect(after[0]).toMatchObject({ kind: "update", result: "succeeded" });
  // The stack file holds the winner's phase, not the loser's.
  expect(phaseInFile(stack.name)).toBe(after[0].config[CONFIG.phase].value);
  return { winner: winner!, loser: loser!, update: after[0] };
}

describe("two operators sharing a stack on PostgreSQL", () => {
  it("race phase 5 against phase 5: one goes live, the other is told the stack is busy", async () => {
    const { update } = await race(["phase", ["5", "--yes"]], ["phase", ["5", "--yes"]]);
    expect(update.message).toMatch(/^phase 5: go-live/);
  }, 300_000);

  it("race phase 5 against rollback: exactly one applies", async () => {
    const { winner, update } = await race(["phase", ["5", "--yes"]], ["rollback", ["--yes"]]);
    expect(update.message).toMatch(winner.command.startsWith("rollback") ? /^rollback to update/ : /^phase 5/);
  }, 300_000);
});

/** Ends the PostgreSQL sessions of cutover's holds (as an administrator, a restart or a failover would); how many it ended. */
async function terminateHolds(): Promise<number> {
  const { Client } = await import("pg");
  const admin = new Client({ connectionString: backendUrl.replace(/[?&]table=[^&]*/, "") });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ ended: boolean }>(
      "select pg_terminate_backend(pid) as ended from pg_stat_activity where application_name like 'cutover %' and pid <> pg_backend_pid()",
    );
    return rows.filter((r) => r.ended).length;
  } finally {
    await admin.end();
  }
}

describe("a hold whose PostgreSQL session ends under the command", () => {
  it("before the update: the phase stops with nothing changed, saying why (no crash on the session's error)", async () => {
    const stack = stackOf();
    const before = await stack.history();
    const phase = phaseInFile(stack.name);
    let ended = 0;
    const run = runPhase(stack, 5, {
      progress,
      // Asked after the preview, before the update: the session is ended there.
      confirm: async () => {
        ended = await terminateHolds();
        await new Promise((r) => setTimeout(r, 500));
        return true;
      },
    });
    await expect(run).rejects.toThrow(HoldLostError);
    await expect(run).rejects.toThrow(
      /this command's hold of it was lost before its update started \(terminating connection due to administrator command\).*Nothing was changed/,
    );
    // The fault struck: one hold's session was ended.
    expect(ended).toBe(1);
    expect((await stack.history()).length).toBe(before.length);
    expect(phaseInFile(stack.name)).toBe(phase);
  }, 300_000);

  it("during the update: the engine's own lock lets the update finish, and the phase is verified", async () => {
    const stack = stackOf();
    const before = await stack.history();
    const [first] = team().operators;
    let ended: Promise<number> | undefined;
    // Phase 5 whichever way the race before it went: from 4 it goes live, at 5 it runs the go-live again (an update all the same).
    const r = await runAs(first, "phase", [stack.name, "5", "--yes"], (stderr) => {
      if (!ended && /engine: up /.test(stderr)) ended = terminateHolds();
    });
    expect(await ended, r.stderr).toBe(1);
    expect(r.code, r.stderr.split("\n").slice(-8).join("\n")).toBe(0);
    expect(r.stderr).toMatch(/hold of \S+ was lost during the update \(.*\): the engine's own lock guarded the update/);
    expect(r.stderr).toMatch(/verification passed/);
    const after = await stack.history();
    expect(after.length).toBe(before.length + 1);
    expect(after[0]).toMatchObject({ kind: "update", result: "succeeded" });
  }, 300_000);
});

describe("the hold belongs to cutover's role, and a stale one is broken on the record", () => {
  it("another role that may connect to the database can neither take a stack's hold nor keep cutover from it", async () => {
    const stack = stackOf();
    const { Client } = await import("pg");
    const other = new Client({ connectionString: team().otherRoleUrl });
    await other.connect();
    try {
      // The advisory lock keys an earlier hold took, derived from public strings, held by the other role for ever.
      const h = createHash("sha256").update(`cutover hold cutover/${stack.name}`).digest();
      await other.query("select pg_advisory_lock($1, $2)", [h.readInt32BE(0), h.readInt32BE(4)]);
      const mine = await holdStack(backendUrl, "cutover", stack.name, "phase 5");
      expect(mine!.where).toBe(`PostgreSQL table cutover_holds, row cutover/${stack.name}`);
      try {
        // The row cutover locks cannot be locked, nor the hold taken, by a role without privilege on its table.
        await other.query("begin");
        await expect(other.query("select 1 from cutover_holds for update nowait")).rejects.toThrow(
          /permission denied for table cutover_holds/,
        );
        await other.query("rollback");
        await expect(holdStack(team().otherRoleUrl, "cutover", stack.name, "phase 5")).rejects.toThrow(/permission denied/);
      } finally {
        await mine!.release();
      }
    } finally {
      await other.end();
    }
  }, 120_000);

  it("a hold that outlived its command is shown and broken with npm run hold --break, from another workstation, and the break is recorded", async () => {
    const stack = stackOf();
    const [, second] = team().operators;
    const stale = await holdStack(backendUrl, "cutover", stack.name, "phase 5");
    expect((await inspectHold(backendUrl, "cutover", stack.name, false))!.holder).toMatch(
      /^cutover phase 5 \S+ pid \d+ from 198\.51\.100\.\d+, since /,
    );
    const before = (await inspectHold(backendUrl, "cutover", stack.name, false))!.recorded.length;
    const r = await runAs(second, "hold", [stack.name, "--break", "--yes"]);
    expect(r.code, r.stderr).toBe(0);
    // The fault struck: the stale hold's session was ended, and the command holding it would know.
    const lost = await new Promise<string | undefined>((resolve) => {
      const t = setInterval(() => {
        if (stale!.lost?.()) {
          clearInterval(t);
          resolve(stale!.lost?.());
        }
      }, 100);
      setTimeout(() => {
        clearInterval(t);
        resolve(stale!.lost?.());
      }, 10_000);
    });
    expect(lost).toMatch(/terminating connection due to administrator command|session ended/);
    const after = (await inspectHold(backendUrl, "cutover", stack.name, false))!;
    expect(after.holder).toBeUndefined();
    expect(after.recorded.length).toBe(before + 1);
    expect(after.recorded[0]).toMatchObject({
      holder: expect.stringMatching(/^cutover phase 5 \S+ pid \d+/),
      brokenBy: expect.stringMatching(/^\S+@\S+ pid \d+$/),
    });
    // The stack can be held again at once.
    await (await holdStack(backendUrl, "cutover", stack.name, "phase 5"))!.release();
    await stale!.release();
  }, 120_000);
});
