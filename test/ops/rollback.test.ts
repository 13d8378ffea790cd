import { describe, expect, it } from "vitest";
import { rollbackTarget } from "../../src/ops/rollback";

describe("rollback target from the stack's history", () => {
  const entry = (kind: string, result: string, phase: string, message = "") =>
    ({ kind, result, message, config: { "cutover:phase": { value: phase, secret: false } }, version: 0 }) as never;

  it("is the newest successful update with another configuration, numbered from the oldest", () => {
    const history = [
      entry("update", "succeeded", "5"),
      entry("refresh", "succeeded", "5"),
      entry("update", "succeeded", "5"),
      entry("update", "failed", "4"),
      entry("update", "succeeded", "4"),
      entry("update", "succeeded", "3"),
    ];
    expect(rollbackTarget(history)).toMatchObject({ number: 2, config: { "cutover:phase": { value: "4" } } });
    expect(rollbackTarget(history, 1)).toMatchObject({ number: 1, config: { "cutover:phase": { value: "3" } } });
    expect(() => rollbackTarget(history, 3)).toThrow(/update 3 is not a successful update of this stack \(successful: 6, 4, 2, 1\)/);
    expect(() => rollbackTarget([entry("update", "succeeded", "5")])).toThrow(/nothing to roll back to/);
  });

  it("after a failed or interrupted update, is the newest successful one: what the failed one half changed is undone", () => {
    const history = [entry("update", "failed", "5"), entry("update", "succeeded", "4"), entry("update", "succeeded", "3")];
    expect(rollbackTarget(history)).toMatchObject({ number: 2, config: { "cutover:phase": { value: "4" } } });
    expect(rollbackTarget([entry("update", "in-progress", "5"), ...history.slice(1)])).toMatchObject({ number: 2 });
    // Interrupted with no history entry (a killed engine on a file backend): back to the newest successful one.
    expect(rollbackTarget(history.slice(1), undefined, true)).toMatchObject({ number: 2, config: { "cutover:phase": { value: "4" } } });
    expect(rollbackTarget(history.slice(1))).toMatchObject({ number: 1 });
  });

  it("walks back through the history: a second rollback goes before what the first went to, never back to what it undid", () => {
    const wave = (phase: string, users: string) =>
      ({
        ...(entry("update", "succeeded", phase, `phase ${phase}: wave: ${users}`) as object),
        config: { "cutover:phase": { value: phase, secret: false }, "cutover:mailboxesDigest": { value: users, secret: false } },
      }) as never;
    const base = [
      wave("5", "b"),
      entry("update", "succeeded", "5", "phase 5: go-live"),
      entry("update", "succeeded", "4", "phase 4"),
      entry("update", "succeeded", "3", "phase 3"),
    ];
    // Numbered 4 (wave), 3 (go-live), 2 (phase 4), 1 (phase 3).
    expect(rollbackTarget(base)).toMatchObject({ number: 3 });
    const afterFirst = [{ ...(base[1] as object), message: "rollback to update 3 (phase 5)" } as never, ...base];
    expect(rollbackTarget(afterFirst)).toMatchObject({ number: 2 });
    const afterSecond = [{ ...(base[2] as object), message: "rollback to update 2 (phase 4)" } as never, ...afterFirst];
    expect(rollbackTarget(afterSecond)).toMatchObject({ number: 1 });
    // A phase run after a rollback starts a new line: the next rollback undoes it.
    const resumed = [wave("5", "c"), ...afterFirst];
    expect(rollbackTarget(resumed)).toMatchObject({ number: 5 });
  });
});
