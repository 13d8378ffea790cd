/**
 * `npm run phase`, as a function over a MigrationStack: validate, guard, preview, confirm, record,
 * `up`, verify. Everything it records lives in the stack (config, tags, update messages), so a team
 * sharing a Pulumi Cloud, S3 or PostgreSQL backend shares the guards.
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { ConfigMap } from "@pulumi/pulumi/automation";
import { type PublishedTlsa, publishedTlsa } from "../checks/tls";
import { CONFIG, instanceHostKeySetting } from "../model/config-keys";
import { InputError } from "../model/errors";
import { HOST_ROLES, type HostRole, type Inventory, type Phase } from "../model/inventory";
import { assignmentDigest, readMailboxFile } from "../model/mailbox-archive";
import { type Plan, plan } from "../model/plan";
import { diffPlans } from "../model/plan-diff";
import { loadStack, STACKS_DIR } from "../model/stack-file";
import { factsLine, factsProblem, type HostFacts, readHostFacts } from "../remote/effects/host-facts";
import {
  cannotServe,
  readIdentity,
  releaseGuardMissing,
  serviceGaps,
  takeOverFault,
  takerMissing,
  unpersistable,
} from "../remote/effects/identity";
import { newHostKey, publicKeyOf } from "../remote/instance-host-key";
import type { HostSession } from "../remote/ssh";
import { undoElasticIpMove } from "./address-restore";
import { HoldLostError, StackBusyError } from "./errors";
import { currentPhase, largeChangeRefusals, phaseRefusals, providerRecordsOfAdoptedZones, type Refusal, TAGS } from "./guards";
import { deployedPlan, interrupted, nextUpdateNumber, stackFacts } from "./history";
import { operatorName, type StackHold } from "./hold";
import { changeSummary, describeSteps, type PhaseOptions, type PhaseOutcome } from "./outcome";
import { foundChanged, type MigrationStack, type OperationResult } from "./stack";
import { stackSessions, verifyAndRecord } from "./verification";

export type { PhaseOptions, PhaseOutcome } from "./outcome";

/**
 * Sets the stack's phase and mailbox digest. Until `up` starts, a failed preview, a "no" or a
 * SIGINT/SIGTERM puts the stack file back byte for byte; the returned function does, and ends the
 * signal watch. From `up` on, the file names the phase the engine is applying (an interrupted
 * update is finished by that phase).
 */
async function recordConfiguration(
  stack: MigrationStack,
  phase: Phase,
  inv: Inventory,
  o: PhaseOptions,
  config: ConfigMap,
): Promise<{ restore(): void; keep(): void; hostKeysMade: boolean }> {
  const before = readFileSync(stack.stackFile);
  const put = () => writeFileSync(stack.stackFile, before);
  const onSignal = (signal: NodeJS.Signals) => {
    put();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  const keep = () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let hostKeysMade = false;
  try {
    const digest = assignmentDigest(readMailboxFile(inv.mailboxes, STACKS_DIR).content);
    await stack.setConfig({
      [CONFIG.phase]: { value: String(phase) },
      [CONFIG.mailboxesDigest]: { value: digest },
      ...(o.legacyDown ? { [CONFIG.legacyDown]: { value: "true" } } : {}),
    });
    if (!o.legacyDown && config[CONFIG.legacyDown]) await stack.removeConfig(CONFIG.legacyDown);
    hostKeysMade = await provideInstanceHostKeys(stack, inv, o.progress);
  } catch (e) {
    put();
    keep();
    throw e;
  }
  const restore = () => {
    put();
    keep();
  };
  return { restore, keep, hostKeysMade };
}

/**
 * The SSH host key of each EC2 instance the stack creates, made once (see instance-host-key.ts): the
 * public half pinned in cutover:hostKeys, the private half a stack secret. A key pinned without its
 * private half is one the instance's AMI brings; a private half whose public key is not the pinned
 * one is bad input.
 */
export async function provideInstanceHostKeys(stack: MigrationStack, inv: Inventory, progress: (line: string) => void): Promise<boolean> {
  if (!HOST_ROLES.some((role) => inv.hosts[role]?.kind === "aws" && inv.hosts[role].instance)) return false;
  let made = false;
  const config = await stack.config();
  const raw = config[CONFIG.hostKeys]?.value;
  const pinned = (raw ? JSON.parse(raw) : {}) as Record<string, string | undefined>;
  for (const role of HOST_ROLES) {
    const h = inv.hosts[role];
    if (h?.kind !== "aws" || !h.instance) continue;
    const setting = instanceHostKeySetting(role);
    const privateKey = config[setting]?.value;
    const pin = pinned[role]?.trim().split(/\s+/).slice(0, 2).join(" ");
    if (privateKey) {
      const own = await publicKeyOf(privateKey);
      if (!own)
        throw new InputError(
          `${setting} is not an OpenSSH private key: remove it (pulumi config rm ${setting}) and run the phase again to make one`,
        );
      if (pin && pin !== own)
        throw new InputError(
          `hosts.${role}: cutover:hostKeys.${role} (${pin.slice(0, 40)}...) is not the public half of ${setting} (${own.slice(0, 40)}...): pin ${own}, or remove both to have a new key made`,
        );
      if (!pin) {
        await stack.setConfig({ [`${CONFIG.hostKeys}.${role}`]: { value: own } }, true);
        made = true;
      }
      continue;
    }
    if (pin) continue;
    const key = await newHostKey();
    await stack.setSecrets({ [setting]: key.privateKey });
    await stack.setConfig({ [`${CONFIG.hostKeys}.${role}`]: { value: key.publicKey } }, true);
    made = true;
    progress(
      `hosts.${role}: the stack creates this instance, so it made its SSH host key: ${key.publicKey} pinned in cutover:hostKeys.${role}, the private half kept as the secret ${setting} and given to the instance by cloud-init`,
    );
  }
  return made;
}

/**
 * Every host whose postfix the phase configures for the first time (none the last update deployed
 * routes), read at that first contact (host-facts.ts): its system, mail server and init in one line
 * each, and a refusal for one cutover cannot drive (another MTA, no postfix, a postfix too old). A
 * host out of reach is left to the engine, which names it.
 */
async function hostFactRefusals(
  stack: MigrationStack,
  inv: Inventory,
  deployed: Plan | undefined,
  next: Plan,
  legacyDown: boolean,
  config: ConfigMap,
  note: (line: string) => void,
): Promise<Refusal[]> {
  // An instance the stack creates may not be there yet: its AMI is the operator's choice, read by the engine's first effect.
  const created = (r: HostRole) => {
    const h = inv.hosts[r];
    return h?.kind === "aws" && Boolean(h.instance);
  };
  const known = new Set(deployed?.routing.map((t) => t.host) ?? []);
  const roles = next.routing.map((t) => t.host).filter((r) => !known.has(r) && !(legacyDown && r === "legacy") && !created(r));
  // Settings the sessions cannot be made from (no key, a host key missing) are the engine's to name, in its preview.
  const sessions = roles.length ? await stackSessions(stack, inv, config).catch(() => undefined) : undefined;
  if (!sessions) return [];
  try {
    const { session } = sessions;
    if (!session) return [];
    const read = await Promise.all(
      roles.map(async (role) => {
        const s = await session(role).catch(() => undefined);
        return s && { role, target: `${role} (${s.target.address})`, facts: await readHostFacts(s).catch(() => undefined) };
      }),
    );
    const found = read.filter((r) => r?.facts) as { role: HostRole; target: string; facts: HostFacts }[];
    if (found.length) note(`hosts: ${found.map((r) => `${r.role}: ${factsLine(r.facts)}`).join("; ")}`);
    return found.flatMap((r) => {
      const problem = factsProblem(r.target, r.facts);
      return problem ? [{ guard: "host", message: problem }] : [];
    });
  } finally {
    await sessions.close();
  }
}

/**
 * Before a phase moves the gateway's address to another host (the go-live, or a phase run after a
 * rollback): SSH to both gateways, and the taking host's postfix running with a valid
 * configuration. A failure is a refusal naming the host and its address: nothing is recorded or
 * changed. (The identity effect checks the taking host again right before it releases anything.)
 */
async function goLiveRefusals(
  stack: MigrationStack,
  inv: Inventory,
  deployed: Plan | undefined,
  next: Plan,
  legacyDown: boolean,
  config: ConfigMap,
  note: (line: string) => void,
): Promise<Refusal[]> {
  const taker = next.gateway.holder;
  if (!deployed || deployed.gateway.holder === taker || next.gateway.service.holder !== taker) return [];
  const sessions = await stackSessions(stack, inv, config);
  try {
    if (!sessions.session) return [];
    const session = sessions.session;
    // A legacy gateway declared down is not reached: the taker checks that it no longer holds the address.
    const needed = (legacyDown ? [taker] : [deployed.gateway.holder, taker]) as HostRole[];
    for (const role of needed) {
      const reached = await session(role).then(
        () => undefined,
        (e: Error) => e.message.split("\n")[0],
      );
      if (reached) return [{ guard: "go-live pre-flight", message: `the go-live would start without ${role}: ${reached}` }];
    }
    const takerSession = await session(taker as HostRole);
    const host = inv.hosts[taker as HostRole];
    const [fault, missing, unpublished] = await Promise.all([
      legacyDown && host?.kind === "existing"
        ? takeOverFault(takerSession, next.gateway.service.address, host.interface, [deployed.gateway.holder])
        : cannotServe(takerSession),
      // A note, not a refusal: a host giving the address up without nftables releases it as before.
      legacyDown ? undefined : session(deployed.gateway.holder as HostRole).then(releaseGuardMissing),
      takerKeyUnpublished(next, session),
    ]);
    if (missing) note(`note (go-live pre-flight): ${missing}`);
    // The gateway address as each host would carry it on its interface.
    const serviceOn = (dev: string) => ({
      address: next.gateway.service.address,
      prefixLength: next.gateway.service.prefixLength,
      interface: dev,
      ...(next.gateway.service.ports ? { ports: next.gateway.service.ports } : {}),
    });
    const releaser = inv.hosts[deployed.gateway.holder as HostRole];
    // Side by side, each one round trip: the move kept across a reboot on each host (its network
    // stack recognised), what the taker needs to take the address, and the gateway's services.
    const [unkept, lacking, gaps] = await Promise.all([
      Promise.all(
        needed.map(async (role) => {
          const spec = inv.hosts[role];
          if (spec?.kind !== "existing") return undefined;
          const s = await session(role);
          return unpersistable(s, await readIdentity(s, serviceOn(spec.interface)));
        }),
      ),
      host?.kind === "existing"
        ? takerMissing(takerSession, serviceOn(host.interface), legacyDown ? undefined : releaser?.address)
        : Promise.resolve([]),
      serviceGaps(takerSession, inv.gateway.services),
    ]);
    return [fault, unpublished, ...unkept, ...lacking, ...gaps]
      .filter((m): m is string => Boolean(m))
      .map((message) => ({ guard: "go-live pre-flight", message }));
  } finally {
    await sessions.close();
  }
}

/**
 * With gateway.tls, a DANE sender takes the taker's key at the gateway address only when the
 * gateway name's TLSA record holds it and its resolver validates the record: read from the plan's
 * outside host, through its validating resolver; why not, or undefined. A stack without an outside
 * host is not checked here.
 */
async function takerKeyUnpublished(next: Plan, session: (role: HostRole) => Promise<HostSession>): Promise<string | undefined> {
  const tls = next.routing.find((t) => t.host === next.gateway.holder)?.tls;
  if (!tls || !next.hosts.some((h) => h.role === "internet")) return undefined;
  const dns: PublishedTlsa = await session("internet").then(
    (s) => publishedTlsa(s, tls.name),
    (e: Error) => ({ keys: [], validated: false, status: `the outside host could not be reached: ${e.message.split("\n")[0]}` }),
  );
  if (dns.validated && dns.keys.includes(tls.spki)) return undefined;
  const seen =
    dns.status !== "NOERROR"
      ? dns.status
      : dns.validated
        ? `published: ${dns.keys.map((k) => `${k.slice(0, 16)}...`).join(", ") || "none"}`
        : "not validated (no AD bit)";
  return `the ${next.gateway.holder} server's key ${tls.spki.slice(0, 16)}... is not in the TLSA record of ${tls.name} as the outside host's validating resolver returns it (${seen}): every sender that enforces DANE would defer its mail after the go-live; publish it (run phase 4 again) and wait for the record's TTL`;
}

/**
 * --legacy-down is for the readdress go-live (phase 5, both gateways reached by SSH): with an
 * Elastic IP or an MX change the move does not take an address from the legacy host. Pure.
 */
export function legacyDownMisuse(target: Phase, inv: Inventory, next: Plan): string | undefined {
  if (target !== 5) return `--legacy-down is for phase 5 (the go-live): phase ${target} needs the legacy gateway`;
  const readdress =
    inv.hosts.legacy.kind === "existing" && inv.hosts.new.kind === "existing" && !["eip", "mx"].includes(next.gateway.strategy);
  if (!readdress)
    return `--legacy-down is for the readdress go-live (goLive.strategy readdress, both gateways reached by SSH); this stack's go-live is ${next.gateway.strategy === "none" ? "not an address move" : next.gateway.strategy}: go live without it`;
  return undefined;
}

/**
 * The update's message in the stack's history: "phase 5: go-live" for the move to phase 5; within a
 * phase, a wave names where its users went ("phase 5: wave: 1 user to new"). Pure.
 */
export function updateMessage(target: Phase, current: number | undefined, deployed: Plan | undefined, next: Plan): string {
  if (target === 5 && current !== 5) return "phase 5: go-live";
  if (current !== target || !deployed) return `phase ${target}`;
  const moved = next.routing.flatMap((t) => {
    const before = new Set(deployed.routing.find((d) => d.host === t.host)?.mailboxes ?? []);
    const n = t.mailboxes.filter((m) => !before.has(m)).length;
    return n ? [`${n} user${n === 1 ? "" : "s"} to ${t.host}`] : [];
  });
  return moved.length ? `phase ${target}: wave: ${moved.join(", ")}` : `phase ${target}`;
}

/**
 * `npm run phase -- <stack> <n>`: validate, hold the stack, guard, preview, confirm, record, up,
 * verify, release. While held, no other operator's phase or rollback passes its guards: the
 * loser changes nothing and gets StackBusyError.
 */
export async function runPhase(stack: MigrationStack, target: Phase, o: PhaseOptions): Promise<PhaseOutcome> {
  const inv = loadStack(stack.name, target).inventory;
  const hold = await stack.hold(`phase ${target}`);
  try {
    return await guardedPhase(stack, target, inv, o, hold);
  } finally {
    await hold?.release();
  }
}

async function guardedPhase(
  stack: MigrationStack,
  target: Phase,
  inv: Inventory,
  o: PhaseOptions,
  hold: StackHold | undefined,
): Promise<PhaseOutcome> {
  const next = plan(inv, target);
  const misuse = o.legacyDown ? legacyDownMisuse(target, inv, next) : undefined;
  if (misuse) throw new InputError(misuse);
  const facts = await stackFacts(stack, inv.pilotStack);
  // What the plan changes against what the last update deployed: a large change needs --force.
  const deployed = await deployedPlan(stack, facts);
  const diff = deployed ? diffPlans(deployed, next) : undefined;
  const refusals = [
    ...phaseRefusals(stack.name, target, inv, facts),
    ...(diff ? largeChangeRefusals(stack.name, target, diff) : []),
    ...(await hostFactRefusals(stack, inv, deployed, next, Boolean(o.legacyDown), facts.config, o.progress)),
    ...(await goLiveRefusals(stack, inv, deployed, next, Boolean(o.legacyDown), facts.config, o.progress)),
  ];
  for (const r of refusals) o.progress(`${o.force ? "overridden" : "refused"} (${r.guard}): ${r.message}`);
  if (refusals.length && !o.force) return { status: "refused", refusals, forced: false };

  const current = currentPhase(facts);
  // The state may not be what the hosts have (a failed or interrupted update, a hand change, a
  // rebuilt host): the preview reads each resource from the live hosts first, so it shows what will
  // be re-applied. The up reads them again only when the preview found a host changed or the last
  // update did not finish (+1.9 s per engine run on the lab, measured). The preview runs with --yes
  // too: it is where a program error or bad input stops the phase before anything is recorded (an
  // up alone would record a failed update; measured, it would save 2.8 s per step).
  const recovering = interrupted(facts);
  // A dead legacy gateway cannot be read: the stack's last recorded state stands for the hosts.
  const readHosts = !o.legacyDown;
  if (!readHosts) o.progress("legacy gateway declared down: the hosts are not read first (it cannot be), its drain is skipped");
  else if (recovering) o.progress(`the last update ${recovering}: what it left on the hosts is read first`);
  const recorded = await recordConfiguration(stack, target, inv, o, facts.config);
  let preview: OperationResult;
  try {
    preview = await stack.preview({ refresh: readHosts });
    o.progress(`preview of phase ${target} on ${stack.name} (now ${current ? `phase ${current}` : "new"}):\n${describeSteps(preview)}`);
    const orphaned = providerRecordsOfAdoptedZones(stack.name, preview.steps, inv);
    if (orphaned) throw new InputError(orphaned);
    const confirmed =
      o.yes || (await (o.confirm ?? (async () => false))(`Apply phase ${target} to ${stack.name} (${changeSummary(preview)})?`));
    if (!confirmed) {
      recorded.restore();
      return { status: "declined", refusals, forced: false, preview };
    }
    // The guards passed under the hold: without it now, another operator may have passed theirs since.
    const lost = hold?.lost?.();
    if (lost) throw new HoldLostError(stack.name, lost);
  } catch (e) {
    recorded.restore();
    throw e;
  }
  recorded.keep();
  const forced = refusals.length > 0;
  if (forced)
    await stack.setTag(
      TAGS.forced,
      `${new Date().toISOString()} phase ${target}: ${refusals.map((r) => r.guard).join(", ")}`.slice(0, 250),
    );
  const message = `${updateMessage(target, current, deployed, next)}${o.legacyDown ? " (legacy down: not drained)" : ""}${forced ? ` (forced past: ${refusals.map((r) => r.guard).join(", ")})` : ""} by ${operatorName()}`;
  let up: OperationResult;
  try {
    up = await stack.up({ message, refresh: readHosts && (Boolean(recovering) || foundChanged(preview)) });
  } catch (e) {
    // The engine's lock was taken by another update: this one never started, so its config goes too.
    if (e instanceof StackBusyError) recorded.restore();
    // An Elastic IP move that failed part-way: the releasing gateway back as it was, before the command ends.
    else if (deployed) await undoElasticIpMove(stack, inv, deployed, next, o.progress);
    throw e;
  }
  reportDelegations(up, o);
  const lostDuring = hold?.lost?.();
  if (lostDuring)
    o.progress(`this command's hold of ${stack.name} was lost during the update (${lostDuring}): the engine's own lock guarded the update`);
  return verifyAndRecord(
    stack,
    target,
    inv,
    o,
    { status: "done", refusals, forced, preview, up },
    // The config read before: the phase's own writes leave the SSH key and host keys as they were, unless it made an instance's.
    { number: nextUpdateNumber(facts.history), tags: facts.tags, ...(recorded.hostKeysMade ? {} : { config: facts.config }) },
  );
}

/** The hosted zones the stack created, and the name servers their domains must be delegated to (the up's stack outputs). */
function reportDelegations(up: OperationResult, o: PhaseOptions): void {
  const delegations = up.outputs?.delegations as Record<string, string[]> | undefined;
  for (const [zone, servers] of Object.entries(delegations ?? {}))
    o.progress(`delegate ${zone} to the hosted zone the stack created: NS ${servers.join(" ")} (at the parent zone or the registrar)`);
}
