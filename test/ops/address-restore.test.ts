/**
 * An Elastic IP move that failed part-way, put back by the command that ran it: decided by where the
 * address is after the failed up (EC2 and the hosts are fakes here: AWS cannot be had; the reopen
 * itself, undrainCommand, runs on the lab in test/lab/effects.test.ts).
 */
import { describe, expect, it } from "vitest";
import { type FailedMoveUndo, undoFailedMove } from "../../src/ops/address-restore";

function fake(where: Awaited<ReturnType<FailedMoveUndo["whereNow"]>>, faults: { reopen?: string; reassociate?: string } = {}) {
  const calls: string[] = [];
  const undo: FailedMoveUndo = {
    whereNow: async () => where,
    reopen: async () => {
      calls.push("reopen");
      if (faults.reopen) throw new Error(faults.reopen);
    },
    reassociate: async () => {
      calls.push("reassociate");
      if (faults.reassociate) throw new Error(faults.reassociate);
      return "associated";
    },
    progress: (m) => calls.push(`said: ${m}`),
  };
  return { undo, calls };
}

describe("a failed Elastic IP move, undone before the command ends", () => {
  it("on no instance (the old association deleted, the new one refused): the holder reopened, then the address put back on it", async () => {
    const f = fake("none");
    expect(await undoFailedMove(f.undo)).toBe(true);
    expect(f.calls).toEqual([
      "reopen",
      "reassociate",
      "said: the update failed before the Elastic IP moved: the releasing gateway is back as it was: it takes sessions again; the Elastic IP is on it again (associated)",
    ]);
  });

  it("still on the releasing holder (the failure came before the association): only reopened, its drain lifted", async () => {
    const f = fake("releasing");
    expect(await undoFailedMove(f.undo)).toBe(true);
    expect(f.calls).toEqual([
      "reopen",
      "said: the update failed before the Elastic IP moved: the releasing gateway is back as it was: it takes sessions again; the Elastic IP never left it",
    ]);
  });

  it("on the taker (the move happened; something after it failed) or on a third instance: nothing touched", async () => {
    for (const where of ["taker", "elsewhere"] as const) {
      const f = fake(where);
      expect(await undoFailedMove(f.undo)).toBe(false);
      expect(f.calls).toEqual([]);
    }
  });

  it("each step tried whatever the other did, and what is left to do said", async () => {
    const f = fake("none", { reopen: "ssh: connect timed out" });
    await undoFailedMove(f.undo);
    expect(f.calls).toEqual([
      "reopen",
      "reassociate",
      "said: the update failed before the Elastic IP moved: the releasing gateway is back as it was: it could NOT be reopened (ssh: connect timed out): run npm run rollback; the Elastic IP is on it again (associated)",
    ]);
    const g = fake("none", { reassociate: "UnauthorizedOperation" });
    await undoFailedMove(g.undo);
    expect(g.calls.at(-1)).toMatch(
      /it takes sessions again; the Elastic IP could NOT be put back \(UnauthorizedOperation\): run npm run rollback$/,
    );
    // Where the address is cannot be read: nothing is guessed.
    const h = fake("none");
    h.undo.whereNow = async () => {
      throw new Error("ExpiredToken");
    };
    expect(await undoFailedMove(h.undo)).toBe(false);
    expect(h.calls).toEqual(["said: the Elastic IP's association could not be read (ExpiredToken): run npm run rollback"]);
  });
});
