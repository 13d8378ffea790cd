/**
 * A verification a real organisation can run (issue 38, point 5): a lab stack of the pilot's shape
 * with 2,000 more mailboxes and two probe mailboxes, taken to phase 4 by the real engine, verified
 * the way a phase step verifies. The messages go to the probes only, as many as without the 2,000;
 * every one of the 2,000 users' routes is read on both gateways; none of the messages stays in a
 * probe mailbox.
 */
import { randomBytes } from "node:crypto";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { labMailboxFile, openLabStack, removeLabStack } from "../../lab/lab-stack";
import { CONFIG } from "../../src/model/config-keys";
import { plan } from "../../src/model/plan";
import { loadStack, STACKS_DIR, stackPlan } from "../../src/model/stack-file";
import { obtainEngine } from "../../src/ops/engine";
import type { MigrationStack } from "../../src/ops/stack";
import { verifyDeployed } from "../../src/ops/verification";
import { testLab } from "../lab/env";
import { progress } from "./phase-4-stack";

const lab = testLab();
const name = `lab-probes-${randomBytes(3).toString("hex")}`;
const MORE = 2000;
const PROBES = ["user2@paradigms.test", "user4@paradigms.test"];
let stack: MigrationStack;

beforeAll(async () => {
  stack = await openLabStack(name, lab.description, await obtainEngine(), progress);
  // The organisation grows by 2,000 users over both systems, and names two probe mailboxes.
  const file = join(STACKS_DIR, `Pulumi.${name}.yaml`);
  const doc = parse(readFileSync(file, "utf8"));
  doc.config[CONFIG.inventory].verification = { probes: PROBES };
  doc.config[CONFIG.phase] = 4;
  writeFileSync(file, stringify(doc));
  appendFileSync(
    join(STACKS_DIR, labMailboxFile(name)),
    Array.from({ length: MORE }, (_, i) => `staff${i}@paradigms.test,${i % 4 === 0 ? "new" : "legacy"},hq\n`).join(""),
  );
  await stack.up({ message: "probes at scale: phase 4" });
}, 300_000);

afterAll(async () => {
  if (!stack) return;
  await stack.destroy().catch((e: Error) => progress(`destroy: ${e.message.split("\n")[0]}`));
  await removeLabStack(stack).catch(() => undefined);
});

describe("a verification of 2,000 users more, with probe mailboxes", () => {
  it("sends as many messages as without them, to the probes only, reads every route, and leaves nothing in the probes", async () => {
    const inventory = loadStack(name, 4).inventory;
    expect(inventory.mailboxList.length).toBe(MORE + 5);
    // The same organisation without the 2,000: its plan sends as many messages.
    const withoutMore = plan({ ...inventory, mailboxList: inventory.mailboxList.slice(0, 5) }, 4).flows.length;
    expect(stackPlan(name, 4).flows.length).toBe(withoutMore);
    const v = await verifyDeployed(stack, progress);
    expect(v.status).toBe("done");
    const verification = v.verification!;
    // The messages: one per flow of the probes, the same count as the plan without the 2,000.
    const recipients = new Set(verification.flows.filter((f) => f.flow.mailboxHost !== "internet").map((f) => f.flow.recipient));
    expect([...recipients].sort()).toEqual(PROBES);
    expect(verification.flows.every((f) => f.passed)).toBe(true);
    expect(verification.flows.length).toBe(withoutMore);
    // The routes: every address on each routed host, the 2,000 included, none differing.
    const gateways = verification.routes!.filter((r) => r.host === "legacy" || r.host === "new");
    expect(gateways.map((r) => [r.host, r.checked, r.differing.length])).toEqual([
      ["legacy", MORE + 5, 0],
      ["new", MORE + 5, 0],
    ]);
    // Each probe message was removed once found: the files it was found in are gone. (The probe
    // mailboxes are the pilot's users, which other tests' stacks mail without probes: only this
    // verification's copies are asked about.)
    expect(verification.leftInProbes).toEqual([]);
    const copies = verification.flows.filter((f) => PROBES.includes(f.flow.recipient)).flatMap((f) => f.foundIn);
    expect(copies.length).toBe(verification.flows.filter((f) => PROBES.includes(f.flow.recipient)).length);
    for (const copy of copies) {
      const [role, path] = [copy.slice(0, copy.indexOf(":")) as "legacy" | "new", copy.slice(copy.indexOf(":") + 1)];
      expect(await lab.inHost(role, ["sh", "-c", '[ -e "$1" ] && echo present || echo gone', "sh", path]), copy).toBe("gone\n");
    }
  }, 300_000);
});
