import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { engineLockHolder, StackBusyError } from "../../src/ops/errors";
import { holdStack, inspectHold } from "../../src/ops/hold";

const backend = () => pathToFileURL(mkdtempSync(join(tmpdir(), "cutover-backend-"))).toString();

describe("holding a stack on a local backend", () => {
  it("refuses a second hold, naming the holder and since when, and allows one after the release", async () => {
    const url = backend();
    const first = await holdStack(url, "cutover", "production", "phase 5");
    expect(first).toBeDefined();
    const busy = await holdStack(url, "cutover", "production", "rollback").catch((e) => e);
    expect(busy).toBeInstanceOf(StackBusyError);
    expect(busy.message).toMatch(
      new RegExp(`stack production is busy: held by cutover phase 5 \\S+@${hostname()} pid ${process.pid}, since \\d{4}-\\d\\d-\\d\\dT`),
    );
    // Other stacks are not held.
    await (await holdStack(url, "cutover", "pilot", "phase 1"))!.release();
    await first!.release();
    await (await holdStack(url, "cutover", "production", "rollback"))!.release();
  });

  it("takes over a hold left by a process that is gone from this machine, not one that lives", async () => {
    const url = backend();
    const dir = join(new URL(url).pathname, ".cutover-holds", "cutover");
    const first = await holdStack(url, "cutover", "production", "phase 4");
    const file = readdirSync(dir)[0];
    await first!.release();
    // A hold file of a pid that does not exist (beyond pid_max).
    writeFileSync(
      join(dir, file),
      JSON.stringify({ operator: "ann@x", host: hostname(), pid: 2 ** 22 + 1, command: "phase 4", since: "2026-01-01T00:00:00Z" }),
    );
    const taken = await holdStack(url, "cutover", "production", "phase 5");
    await taken!.release();
    // One of a living process (this one, on another host's name) is respected.
    writeFileSync(
      join(dir, file),
      JSON.stringify({ operator: "bob@y", host: "elsewhere", pid: process.pid, command: "rollback", since: "2026-01-01T00:00:00Z" }),
    );
    await expect(holdStack(url, "cutover", "production", "phase 5")).rejects.toThrow(/held by cutover rollback bob@y, since 2026-01-01/);
  });

  it("breaks a hold left by another workstation on the record: shown, removed, the break listed with whose it was and who broke it", async () => {
    const url = backend();
    const dir = join(new URL(url).pathname, ".cutover-holds", "cutover");
    await (await holdStack(url, "cutover", "production", "phase 4"))!.release();
    writeFileSync(
      join(dir, "production.json"),
      JSON.stringify({ operator: "bob@y pid 7", host: "elsewhere", pid: 7, command: "phase 5", since: "2026-01-01T00:00:00Z" }),
    );
    expect(await inspectHold(url, "cutover", "production", false)).toEqual({
      holder: "cutover phase 5 bob@y pid 7, since 2026-01-01T00:00:00Z",
      recorded: [],
    });
    const broken = await inspectHold(url, "cutover", "production", true);
    expect(broken!.recorded).toEqual([
      {
        at: expect.stringMatching(/^\d{4}-/),
        holder: "cutover phase 5 bob@y pid 7, since 2026-01-01T00:00:00Z",
        brokenBy: expect.stringMatching(/ pid \d+$/),
      },
    ]);
    expect(await inspectHold(url, "cutover", "production", false)).toEqual({ recorded: broken!.recorded });
    // Another stack's breaks are its own; the stack is held again at once.
    expect((await inspectHold(url, "cutover", "pilot", false))!.recorded).toEqual([]);
    await (await holdStack(url, "cutover", "production", "phase 5"))!.release();
    expect(await inspectHold("s3://bucket/state", "cutover", "production", true)).toBeUndefined();
  });

  it("offers no hold on backends without one", async () => {
    expect(await holdStack("s3://bucket/state", "cutover", "production", "phase 5")).toBeUndefined();
    expect(await holdStack(undefined, "cutover", "production", "phase 5")).toBeUndefined();
  });
});

describe("who holds the engine's lock", () => {
  it("is read from the DIY backend's message", () => {
    const message =
      "the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n  postgres://****:****@198.51.100.60:5432/pulumi/.pulumi/locks/organization/cutover/lab-x/1.json: created by root@vm (pid 2011) at 2026-11-25T12:25:49Z";
    expect(engineLockHolder(message)).toBe("the engine's lock, taken by root@vm pid 2011 at 2026-11-25T12:25:49Z");
    expect(new StackBusyError("lab-x", engineLockHolder(message)).message).toMatch(/pulumi cancel --yes --stack lab-x/);
  });
});
