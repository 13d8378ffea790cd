/** The offline preview (plan against plan) and the drift report's pure parts. */
import { describe, expect, it } from "vitest";
import { bounded, type DriftReport, renderDriftMarkdown, renderDriftTable, routingDifferences } from "../../src/checks/drift";
import { plan } from "../../src/model/plan";
import { diffPlans, renderPlanDiff } from "../../src/model/plan-diff";
import { hostRouting } from "../../src/model/routing";
import { load } from "../helpers";

const pilot = (phase: 1 | 2 | 3 | 4 | 5) => plan(load("pilot", phase), phase);

describe("offline plan diff", () => {
  it("shows the go-live as one change of the gateway identity, and nothing else", () => {
    const d = diffPlans(pilot(4), pilot(5));
    expect(d.changes).toEqual([{ area: "gateway", kind: "changed", scope: "gateway", item: "holder", before: "legacy", after: "new" }]);
    expect(d.large).toEqual([]);
    expect(renderPlanDiff(d)).toContain("~ holder");
  });

  it("lists records, routing entries and the gateway added, changed and removed between phases", () => {
    const d = diffPlans(pilot(3), pilot(4));
    expect(d.changes.filter((c) => c.area === "record" && c.scope === "api.test").map((c) => c.kind)).toEqual([
      "removed",
      "removed",
      "removed",
      "removed",
      "removed",
    ]);
    expect(d.changes).toContainEqual({
      area: "record",
      kind: "added",
      scope: "paradigms.test",
      item: "paradigms.test MX",
      after: "300 10 mail.paradigms.test",
    });
    expect(d.changes).toContainEqual({
      area: "routing",
      kind: "added",
      scope: "legacy",
      item: "mailbox user1@paradigms.test",
      after: "local",
    });
    expect(d.changes).toContainEqual({
      area: "gateway",
      kind: "changed",
      scope: "gateway",
      item: "hostName",
      before: "mail.api.test",
      after: "mail.paradigms.test",
    });
    // A phase transition's designed changes are shown, not flagged.
    expect(d.large).toEqual([]);
  });

  it("flags more than 30% of a zone's records changing within a phase, and any NS change", () => {
    const before = pilot(4);
    const zone = before.zones.find((z) => z.name === "paradigms.test")!;
    const edited = {
      ...before,
      zones: before.zones.map((z) => (z === zone ? { ...z, records: z.records.map((r, i) => (i < 2 ? { ...r, ttl: 60 } : r)) } : z)),
    };
    expect(diffPlans(before, edited).large).toEqual([{ scope: "paradigms.test", reason: "2 of 5 records change (40% > 30%)" }]);
    const oneChange = {
      ...before,
      zones: before.zones.map((z) => (z === zone ? { ...z, records: z.records.map((r, i) => (i < 1 ? { ...r, ttl: 60 } : r)) } : z)),
    };
    expect(diffPlans(before, oneChange).large).toEqual([]);
    const ns = {
      ...before,
      zones: before.zones.map((z) =>
        z === zone
          ? { ...z, records: [...z.records, { zone: z.name, name: z.name, type: "NS" as never, ttl: 300, values: ["ns1.elsewhere.test"] }] }
          : z,
      ),
    };
    expect(diffPlans(before, ns).large.map((l) => l.reason)).toEqual(["NS records change: paradigms.test NS added"]);
    expect(renderPlanDiff(diffPlans(before, ns))).toContain("LARGE CHANGE in paradigms.test: NS records change");
  });
});

describe("drift report", () => {
  it("names the first differing routing entries of each kind", () => {
    const want = hostRouting(pilot(4).routing.find((t) => t.host === "legacy")!);
    const have = {
      ...want,
      mailboxes: want.mailboxes.filter((m) => m !== "user1@paradigms.test"),
      relays: [...want.relays, { recipient: "intruder@paradigms.test", nextHop: "[203.0.113.9]" }],
    };
    expect(routingDifferences(want, have)).toEqual([
      "mailboxes missing: user1@paradigms.test",
      "relays not planned: intruder@paradigms.test->[203.0.113.9]",
    ]);
    expect(routingDifferences(want, want)).toEqual([]);
    expect(routingDifferences(want, { ...want, relayHost: "[192.0.2.99]" })).toEqual([
      "relayhost = [192.0.2.99], planned [relay.isp.test]:2525",
    ]);
    const { relayHost: _, ...direct } = want;
    expect(routingDifferences(want, direct)).toEqual(["relayhost = (none), planned [relay.isp.test]:2525"]);
  });

  it("runs probes with bounded parallelism, results in order", async () => {
    let running = 0;
    let most = 0;
    const tasks = Array.from({ length: 20 }, (_, i) => async () => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      return i;
    });
    expect(await bounded(tasks, 4)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(most).toBe(4);
  });

  it("renders drift for people (table) and machines (Markdown), never calling an unreachable server clean", () => {
    const r: DriftReport = {
      stack: "lab-x",
      phase: 4,
      startedAt: "2026-11-25T05:00:00.000Z",
      seconds: 0.5,
      exitCode: 2,
      findings: [
        {
          area: "dns",
          subject: "paradigms.test @198.51.100.53",
          check: "mail.paradigms.test A",
          status: "drift",
          expected: "300 198.51.100.25",
          actual: "300 203.0.113.7",
        },
        {
          area: "dns",
          subject: "aegean.test @198.51.100.53",
          check: "aegean.test MX",
          status: "unreachable",
          actual: "DNS server 198.51.100.53 did not answer",
        },
        { area: "smtp", subject: "198.51.100.25:25", check: "open relay", status: "ok" },
      ],
    };
    const table = renderDriftTable(r);
    expect(table).toMatch(/^status\s+area/);
    expect(table).toContain("DRIFT        dns");
    expect(table).toContain("COULD NOT CHECK EVERYTHING: stack lab-x (phase 4), 3 checks, 1 ok, 0 notes, 1 drift, 1 unreachable");
    const md = renderDriftMarkdown(r);
    expect(md).toContain("## Drift check: lab-x (phase 4)");
    expect(md).toContain("| drift | dns | paradigms.test @198.51.100.53 | mail.paradigms.test A | 300 198.51.100.25 | 300 203.0.113.7 |");
    expect(md).not.toContain("open relay");
  });
});
