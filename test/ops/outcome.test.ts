import { describe, expect, it } from "vitest";
import { changeSummary, describeSteps } from "../../src/ops/outcome";
import type { OperationResult, Step } from "../../src/ops/stack";

const step = (op: Step["op"], name: string, extra: Partial<Step> = {}): Step => ({
  op,
  urn: `urn:pulumi:lab::cutover::cutover:x::${name}`,
  type: "pulumi-nodejs:dynamic/GatewayRouting",
  name,
  diffs: [],
  inputs: {},
  ...extra,
});
const result = (steps: Step[], changes: Record<string, number>): OperationResult => ({ steps, changes, seconds: 1, diagnostics: [] });

describe("a preview as the operator reads it", () => {
  it("counts what it lists: the engine's summary also counts the stack itself (11 to create above a list of 10)", () => {
    const creates = Array.from({ length: 10 }, (_, i) => step("create", `routing-${i}`));
    const r = result(creates, { create: 11 });
    expect(describeSteps(r).split("\n")).toHaveLength(10);
    expect(changeSummary(r)).toBe("10 to create");
  });

  it("lists a refresh only when it found the host changed, and says so", () => {
    const r = result(
      [
        ...Array.from({ length: 14 }, (_, i) => step("refresh", `same-${i}`)),
        step("refresh", "routing-legacy", { refreshChanged: true }),
        step("update", "routing-legacy"),
        step("same", "zone-aegean-test"),
      ],
      { same: 15, update: 1 },
    );
    expect(describeSteps(r)).toBe(
      [
        "  refresh  GatewayRouting routing-legacy (changed on the host since the last update)",
        "  update   GatewayRouting routing-legacy",
      ].join("\n"),
    );
    expect(changeSummary(r)).toBe("1 changed on the host, 1 to update");
  });

  it("says no changes when nothing changes", () => {
    const r = result([step("refresh", "a"), step("same", "b"), step("read", "c")], { same: 2 });
    expect(describeSteps(r)).toBe("  no changes");
    expect(changeSummary(r)).toBe("no changes");
  });
});
