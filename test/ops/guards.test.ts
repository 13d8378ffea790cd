/**
 * The phase command's guards and the mailbox archive, as pure functions over what a stack records.
 */
import type { UpdateSummary } from "@pulumi/pulumi/automation";
import { describe, expect, it } from "vitest";
import type { Inventory, Mailbox, Phase } from "../../src/model/inventory";
import { plan } from "../../src/model/plan";
import {
  currentPhase,
  inventoryDigest,
  mxSwitchReadyAt,
  parseVerifications,
  phaseRefusals,
  providerRecordsOfAdoptedZones,
  type StackFacts,
  TAGS,
  verificationsTag,
  verifiedTag,
} from "../../src/ops/guards";
import { legacyDownMisuse, updateMessage } from "../../src/ops/phase";
import { load, rawStack } from "../helpers";

const pilot = (phase: Phase) => load("pilot", phase);

/** An update as the engine's history lists it, with the config it ran with. */
function update(
  phase: number,
  opts: { result?: UpdateSummary["result"]; kind?: UpdateSummary["kind"]; inventory?: object; endTime?: string } = {},
): UpdateSummary {
  return {
    kind: opts.kind ?? "update",
    result: opts.result ?? "succeeded",
    startTime: new Date("2026-11-25T10:00:00Z"),
    endTime: new Date(opts.endTime ?? "2026-11-25T10:00:05Z"),
    message: "",
    environment: {},
    version: 0,
    config: {
      "cutover:phase": { value: String(phase), secret: false },
      "cutover:inventory": { value: JSON.stringify(opts.inventory ?? rawStack("pilot").inventory), secret: false },
    },
  } as unknown as UpdateSummary;
}

const facts = (history: UpdateSummary[], more: Partial<StackFacts> = {}): StackFacts => ({
  history,
  tags: {},
  pendingOperations: [],
  now: new Date("2026-11-25T12:00:00Z"),
  ...more,
});
const guards = (target: Phase, f: StackFacts, inv = pilot(target)) => phaseRefusals("lab-x", target, inv, f).map((r) => r.guard);

describe("phase guards", () => {
  it("takes the stack's phase from its newest successful update", () => {
    expect(currentPhase(facts([update(3, { result: "failed" }), update(2), update(1)]))).toBe(2);
    expect(currentPhase(facts([]))).toBeUndefined();
  });

  it("starts a new stack at phase 1 and refuses to skip a phase, naming the one to run", () => {
    expect(guards(1, facts([]))).toEqual([]);
    const [skip] = phaseRefusals("lab-x", 3, pilot(3), facts([update(1)]));
    expect(skip).toMatchObject({ guard: "skip" });
    expect(skip.message).toContain("npm run phase -- lab-x 2 first");
  });

  it("starts a production stack at phase 4 once the pilot it names passed phase 3, and not before", () => {
    const prod = load("production", 4);
    expect(guards(4, facts([], { pilot: { stack: "pilot", verifiedPhase: 3 } }), prod)).toEqual([]);
    expect(guards(4, facts([], { pilot: { stack: "pilot", verifiedPhase: 5 } }), prod)).toEqual([]);
    const [early] = phaseRefusals("production", 4, prod, facts([], { pilot: { stack: "pilot", verifiedPhase: 2 } }));
    expect(early.message).toMatch(/finish the pilot: stack pilot \(inventory.pilotStack\) has passed the verification of phase 2 only/);
    const [none] = phaseRefusals("production", 4, prod, facts([], { pilot: { stack: "pilot", verifiedPhase: undefined } }));
    expect(none.message).toMatch(/stack pilot \(inventory.pilotStack\) has no passed verification/);
    const [unnamed] = phaseRefusals("production", 4, prod, facts([]));
    expect(unnamed.message).toMatch(/starts at phase 4 when inventory.pilotStack names the pilot stack whose phase-3 verification passed/);
    // Only the first update: a stack with history still moves one phase at a time.
    expect(guards(5, facts([], { pilot: { stack: "pilot", verifiedPhase: 3 } }), load("production", 5))).toContain("skip");
  });

  it("refuses to go back, pointing to the rollback, but lets the current phase run again", () => {
    const [back] = phaseRefusals("lab-x", 2, pilot(2), facts([update(3), update(2)]));
    expect(back.guard).toBe("backwards");
    expect(back.message).toContain("npm run rollback -- lab-x");
    expect(guards(3, facts([update(3, { result: "failed" }), update(3)]))).toEqual([]);
  });

  it("refuses a phase change after a failed operation or one interrupted with pending operations, but lets the failed phase run again", () => {
    expect(guards(4, facts([update(4, { result: "failed" }), update(3)]))).toEqual([]);
    expect(guards(3, facts([update(4, { result: "failed" }), update(3)]))).toEqual([]);
    expect(guards(4, facts([update(3, { kind: "refresh", result: "failed" }), update(3)]))).toEqual(["unfinished"]);
    expect(
      guards(
        4,
        facts([update(3)], {
          pendingOperations: ["urn:pulumi:lab-x::cutover::pulumi-nodejs:dynamic/cutover:GatewayIdentity::gateway-identity-address"],
        }),
      ),
    ).toEqual(["unfinished"]);
    expect(
      phaseRefusals("lab-x", 4, pilot(4), facts([update(3)], { pendingOperations: ["urn:x::gateway-identity-address"] }))[0].message,
    ).toContain("gateway-identity-address");
    // A killed engine leaves no history entry, only pending operations: the phase it ran may run again.
    const killed = facts([update(4), update(3)], {
      pendingOperations: ["urn:x::gateway-identity-address"],
      configuredPhase: 5,
      tags: { [TAGS.verified]: verifiedTag(4, pilot(4)) },
    });
    expect(guards(5, killed)).toEqual([]);
    expect(phaseRefusals("lab-x", 3, pilot(3), killed).find((r) => r.guard === "unfinished")!.message).toContain(
      "npm run phase -- lab-x 5 or roll it back",
    );
  });

  it("allows the go-live only after the phase-4 verification passed on the current inventory", () => {
    const at4 = [update(4), update(3)];
    expect(guards(5, facts(at4))).toEqual(["verification"]);
    expect(guards(5, facts(at4, { tags: { [TAGS.verified]: verifiedTag(3, pilot(3)) } }))).toEqual(["verification"]);
    expect(guards(5, facts(at4, { tags: { [TAGS.verified]: verifiedTag(4, pilot(4)) } }))).toEqual([]);
    // One user moved since the verification: a different inventory.
    const first = pilot(5).mailboxList.findIndex((m) => m.home === "legacy");
    const withHome = (home: Mailbox["home"]): Inventory => ({
      ...pilot(5),
      mailboxList: pilot(5).mailboxList.map((m, i) => (i === first ? { ...m, home } : m)),
    });
    const moved = withHome("new");
    expect(inventoryDigest(withHome("legacy"))).toBe(inventoryDigest(pilot(5)));
    expect(inventoryDigest(moved)).not.toBe(inventoryDigest(pilot(5)));
    expect(guards(5, facts(at4, { tags: { [TAGS.verified]: verifiedTag(4, pilot(4)) } }), moved)).toEqual(["verification"]);
  });

  it("with the mx strategy, refuses the go-live until the old TTL has passed since the TTL was lowered, and says when it may run", () => {
    const raw = rawStack("mx").inventory;
    const inv = load("mx", 5);
    const lowered = update(4, { inventory: raw, endTime: "2026-11-25T11:30:00Z" });
    const before = update(3, { inventory: raw, endTime: "2026-11-25T11:00:00Z" });
    const history = [update(4, { inventory: raw, endTime: "2026-11-25T11:50:00Z" }), lowered, before];
    expect(mxSwitchReadyAt(history, inv)).toMatchObject({ readyAt: new Date("2026-11-25T12:30:00Z"), update: 2 });
    const tags = { [TAGS.verified]: verifiedTag(4, load("mx", 4)) };
    const refusal = phaseRefusals("lab-x", 5, inv, facts(history, { tags })).find((r) => r.guard === "mx-ttl")!;
    expect(refusal.message).toContain("may run from 2026-11-25T12:30:00.000Z (in 1800 s)");
    expect(guards(5, facts(history, { tags, now: new Date("2026-11-25T12:30:01Z") }), inv)).toEqual([]);
    // Phase 4 never ran with the mx strategy: the TTL was never lowered.
    expect(guards(5, facts([update(4), update(3)], { tags }), inv)).toEqual(["mx-ttl"]);
  });
});

describe("the update's message in the stack's history", () => {
  const inv = pilot(5);
  const moved = (n: number): Inventory => ({
    ...inv,
    mailboxList: inv.mailboxList.map((m, i) => (i < n && m.home === "legacy" ? { ...m, home: "new" as const } : m)),
  });
  it("tells the go-live from a wave, and a wave names how many users went where", () => {
    expect(updateMessage(5, 4, plan(inv, 4), plan(inv, 5))).toBe("phase 5: go-live");
    expect(updateMessage(5, 5, plan(inv, 5), plan(moved(1), 5))).toBe("phase 5: wave: 1 user to new");
    expect(updateMessage(4, 4, plan(inv, 4), plan(moved(3), 4))).toBe("phase 4: wave: 3 users to new");
    expect(updateMessage(4, 4, plan(moved(2), 4), plan(inv, 4))).toBe("phase 4: wave: 2 users to legacy");
    expect(updateMessage(4, 4, plan(inv, 4), plan(inv, 4))).toBe("phase 4");
    expect(updateMessage(3, 2, plan(inv, 2), plan(inv, 3))).toBe("phase 3");
    expect(updateMessage(1, undefined, undefined, plan(inv, 1))).toBe("phase 1");
  });
});

describe("the verification of each update, in the stack's tags", () => {
  it("adds an update's result, replaces an older one for the same update, and drops the oldest to fit a tag", () => {
    expect(verificationsTag(undefined, 3, "passed")).toBe("3:passed");
    expect(verificationsTag("3:passed 4:failed", 4, "passed")).toBe("3:passed 4:passed");
    let tag: string | undefined;
    for (let n = 1; n <= 40; n++) tag = verificationsTag(tag, n, n % 2 ? "passed" : "unclear");
    expect(tag!.length).toBeLessThanOrEqual(250);
    const kept = parseVerifications(tag);
    expect(kept.get(40)).toBe("unclear");
    expect(kept.get(39)).toBe("passed");
    expect(kept.has(1)).toBe(false);
    expect([...kept.keys()]).toEqual([...kept.keys()].sort((a, b) => a - b));
  });

  it("skips what it cannot read", () => {
    expect([...parseVerifications("7:passed x 8:maybe 9:failed")]).toEqual([
      [7, "passed"],
      [9, "failed"],
    ]);
  });
});

describe("--legacy-down", () => {
  it("is for the readdress go-live only: phase 5, both gateways reached by SSH", () => {
    expect(legacyDownMisuse(5, pilot(5), plan(pilot(5), 5))).toBeUndefined();
    expect(legacyDownMisuse(4, pilot(4), plan(pilot(4), 4))).toBe(
      "--legacy-down is for phase 5 (the go-live): phase 4 needs the legacy gateway",
    );
    const production = load("production", 5);
    expect(legacyDownMisuse(5, production, plan(production, 5))).toMatch(
      /^--legacy-down is for the readdress go-live .*; this stack's go-live is eip: go live without it$/,
    );
  });
});

describe("records of existing zones that a stack's state holds as the cloud provider's resources", () => {
  const inv = {
    zones: [
      { name: "example.com", provider: "route53", zoneId: "Z0123456789EXAMPLECOM" },
      { name: "example.org", provider: "cloudflare", zoneId: "0123456789abcdef0123456789abcdef" },
      { name: "example-pilot.com", provider: "route53", create: true },
    ],
  } as unknown as Pick<Inventory, "zones">;
  const step = (op: string, type: string, name: string, zoneId: string) => ({
    op,
    type,
    urn: `urn:pulumi:production::cutover::cutover:dns:MailZone$${type}::${name}`,
    inputs: { zoneId },
  });
  it("stops an update that would delete them, naming each with the command that forgets it", () => {
    const message = providerRecordsOfAdoptedZones(
      "production",
      [
        step("delete", "aws:route53/record:Record", "zone-example-com-mx-apex", "Z0123456789EXAMPLECOM"),
        step("delete", "cloudflare:index/dnsRecord:DnsRecord", "zone-example-org-mx-apex", "0123456789abcdef0123456789abcdef"),
        step("create", "pulumi-nodejs:dynamic/cutover:CloudZone", "zone-example-com-records", "Z0123456789EXAMPLECOM"),
        // The hosted zone the stack created: its records go as planned.
        step("delete", "aws:route53/record:Record", "zone-example-pilot-com-mx-apex", "Z27MOCK"),
      ],
      inv,
    );
    expect(message).toMatch(/^production's state holds 2 record\(s\) of existing zones/);
    expect(message).toContain(
      "pulumi state delete --stack production --yes 'urn:pulumi:production::cutover::cutover:dns:MailZone$aws:route53/record:Record::zone-example-com-mx-apex'",
    );
    expect(message).toContain("zone-example-org-mx-apex");
    expect(message).not.toContain("pilot");
  });

  it("has nothing to say of a stack without them", () => {
    expect(
      providerRecordsOfAdoptedZones(
        "production",
        [step("delete", "aws:route53/record:Record", "zone-example-pilot-com-a-new", "Z27MOCK")],
        inv,
      ),
    ).toBeUndefined();
  });
});
