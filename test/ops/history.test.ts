import { describe, expect, it } from "vitest";
import { historyRows, renderHistory } from "../../src/ops/history";

const entry = (kind: string, result: string, phase: string, message: string, minute: number) =>
  ({
    kind,
    result,
    message,
    version: 0,
    startTime: new Date(Date.UTC(2026, 10, 25, 10, minute)),
    endTime: new Date(Date.UTC(2026, 10, 25, 10, minute, 30)),
    config: { "cutover:phase": { value: phase, secret: false } },
    environment: {},
  }) as never;

describe("the stack's history as an operator reads it", () => {
  const history = [
    entry("update", "succeeded", "5", "rollback to update 4 (phase 5) by ops@admin1", 9),
    entry("update", "succeeded", "5", "phase 5: wave: 1 user to new by ops@admin1", 8),
    entry("update", "succeeded", "5", "phase 5: go-live by ops@admin2", 7),
    entry("update", "succeeded", "4", "phase 4 by ops@admin1", 6),
    entry("update", "failed", "4", "phase 4 by ops@admin1", 5),
    entry("refresh", "succeeded", "3", "", 4),
    entry("update", "succeeded", "3", "phase 3", 3),
  ];

  it("numbers from the oldest, as rollback --to takes them, and names each entry's kind, moves and operator", () => {
    const rows = historyRows(history);
    expect(rows.map((r) => `${r.number} ${r.phase} ${r.kind} ${r.result} ${r.moved || "-"} ${r.by || "-"}`)).toEqual([
      "7 5 rollback succeeded - ops@admin1",
      "6 5 wave succeeded 1 user to new ops@admin1",
      "5 5 go-live succeeded - ops@admin2",
      "4 4 recovery succeeded - ops@admin1",
      "3 4 phase failed - ops@admin1",
      "2 3 refresh succeeded - -",
      "1 3 phase succeeded - -",
    ]);
    expect(rows[0].time).toBe("2026-11-25T10:09:30Z");
  });

  it("gives each update the result of the verification after it, as the stack's tag records it", () => {
    const rows = historyRows(history, { "cutover-verifications": "3:passed 4:failed 5:passed 6:unclear junk 7:passed" });
    expect(rows.map((r) => `${r.number} ${r.verified}`)).toEqual([
      "7 passed",
      "6 unclear",
      "5 passed",
      "4 failed",
      "3 passed",
      "2 -",
      "1 -",
    ]);
    expect(historyRows(history).every((r) => r.verified === "-")).toBe(true);
  });

  it("prints one aligned line per entry under a header", () => {
    const lines = renderHistory(historyRows(history, { "cutover-verifications": "6:passed" })).split("\n");
    expect(lines[0]).toMatch(/^#\s+time\s+phase\s+kind\s+result\s+verified\s+moved\s+by$/);
    expect(lines[2]).toBe("6  2026-11-25T10:08:30Z  5      wave      succeeded  passed    1 user to new  ops@admin1");
    expect(lines[1]).toBe("7  2026-11-25T10:09:30Z  5      rollback  succeeded  -         -              ops@admin1");
    expect(lines).toHaveLength(8);
  });
});
