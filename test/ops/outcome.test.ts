import { describe, expect, it } from "vitest";
import { changeSummary, describeSteps } from "../../src/ops/outcome";
import { propertyChanges } from "../../src/ops/property-changes";
import type { OperationResult, Step } from "../../src/ops/stack";

const step = (op: Step["op"], name: string, extra: Partial<Step> = {}): Step => ({
  op,
  urn: `urn:pulumi:lab::cutover::cutover:x::${name}`,
  type: "pulumi-nodejs:dynamic/GatewayRouting",
  name,
  diffs: [],
  changes: [],
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

  it("names each changed property under its step: a record set by its key, a routing entry by its line", () => {
    const r = result(
      [
        step("update", "zone-paradigms-test-records", {
          changes: propertyChanges(
            { digest: "a", records: { "paradigms.test MX": { ttl: 300, values: ["10 mail.paradigms.test"] } } },
            { digest: "b", records: { "paradigms.test MX": { ttl: 300, values: ["10 mail.paradigms.test", "5 mx.evil.test"] } } },
          ),
        }),
        step("update", "legacy-routing", {
          changes: propertyChanges(
            { routing: { relays: "a@x.test 10.0.0.1\nb@x.test 10.0.0.1" } },
            { routing: { relays: "b@x.test 10.0.0.1" } },
          ),
        }),
      ],
      { update: 2 },
    );
    expect(describeSteps(r).split("\n")).toEqual([
      "  update   GatewayRouting zone-paradigms-test-records",
      '             records["paradigms.test MX"]: - {"ttl":300,"values":["10 mail.paradigms.test"]} + {"ttl":300,"values":["10 mail.paradigms.test","5 mx.evil.test"]}',
      "  update   GatewayRouting legacy-routing",
      "             routing.relays: - a@x.test 10.0.0.1",
    ]);
  });

  it("says no changes when nothing changes", () => {
    const r = result([step("refresh", "a"), step("same", "b"), step("read", "c")], { same: 2 });
    expect(describeSteps(r)).toBe("  no changes");
    expect(changeSummary(r)).toBe("no changes");
  });
});
