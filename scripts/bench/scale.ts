/**
 * Scale through the real engine (issue 23): an on-prem lab stack of 200 extra zones on the lab's
 * DNS server and 50,000 mailboxes over their domains, taken to phase 4 by `up`, then a no-change
 * `up` and a `refresh`, and the size of the state. Runs in the lab's operator namespace; the stack
 * is destroyed afterwards (its hosts get back what they had) and the extra zones go.
 */
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { labHostKeys, readLabDescription, serveExtraZones } from "../../lab/lab";
import { labMailboxFile, openLabStack, removeLabStack } from "../../lab/lab-stack";
import { checkRoutes } from "../../src/checks/routes";
import { verifyPhase } from "../../src/checks/verify";
import { CONFIG } from "../../src/model/config-keys";
import type { HostRole } from "../../src/model/inventory";
import { loadStack, STACKS_DIR, stackPlan } from "../../src/model/stack-file";
import { obtainEngine } from "../../src/ops/engine";
import { SessionPool } from "../../src/remote/ssh";
import { hostTarget, sshEndpoint } from "../../src/remote/targets";

export interface ScaleBench {
  zones: number;
  mailboxes: number;
  resources: number;
  firstUpSeconds: number;
  noChangeUpSeconds: number;
  refreshSeconds: number;
  stateMiB: number;
  /** The route check of every address on every routed host, after the first up: seconds, routes read, routes differing. */
  routeCheckSeconds: number;
  routesChecked: number;
  routesDiffering: number;
  /**
   * The whole verification with probe mailboxes (the first mailbox of each domain, which covers
   * each system and post office): its messages, its routes, whether it passed, its seconds.
   */
  verification: { probes: number; messages: number; routes: number; passed: boolean; seconds: number };
}

export async function scaleBench(progress: (m: string) => void, zones = 200, mailboxes = 50_000): Promise<ScaleBench> {
  const lab = readLabDescription();
  const engine = await obtainEngine(progress);
  const name = `lab-scale-${Date.now().toString(36)}`;
  const domains = Array.from({ length: zones }, (_, i) => `scale-${String(i).padStart(3, "0")}.test`);
  const stack = await openLabStack(name, lab, engine, progress);
  try {
    // The organisation grows by 200 domains, each in a zone of its own on the lab's DNS server.
    const file = join(STACKS_DIR, `Pulumi.${name}.yaml`);
    const doc = parse(readFileSync(file, "utf8"));
    const inv = doc.config[CONFIG.inventory];
    // Their pilot domains lie in the pilot's zone (api.test), which phase 4 no longer serves.
    inv.addressSpaces.push(...domains.map((domain) => ({ domain, pilotDomain: domain.replace(/\.test$/, ".api.test") })));
    inv.zones.push(...domains.map((n) => ({ name: n, provider: "bind", server: "internet", tsigKey: { name: lab.tsig.name } })));
    doc.config[CONFIG.phase] = 4;
    writeFileSync(file, stringify(doc));
    appendFileSync(
      join(STACKS_DIR, labMailboxFile(name)),
      Array.from({ length: mailboxes }, (_, i) => `user${i}@${domains[i % zones]},${i % 4 === 0 ? "new" : "legacy"},hq\n`).join(""),
    );
    progress(`bench: the lab's DNS server serves ${zones} more zones`);
    await serveExtraZones(domains.map((n) => ({ name: n, records: [] })));

    const first = await stack.up({ message: "scale bench: first up" });
    // Every user's route on every routed host, from their live tables: what a verification reads.
    const pool = new SessionPool();
    const key = readFileSync(lab.adminKeyPath, "utf8");
    const hosts = loadStack(name, 4).inventory;
    const session = (role: HostRole) => pool.session(hostTarget(sshEndpoint(hosts, role, labHostKeys(lab)), key));
    const routeStart = Date.now();
    const routes = await checkRoutes(stackPlan(name, 4), session);
    const routeCheckSeconds = (Date.now() - routeStart) / 1000;
    progress(
      `bench: route check: ${routes.map((r) => `${r.host} ${r.checked} (${r.differing.length} differ)`).join(", ")} in ${routeCheckSeconds.toFixed(1)} s`,
    );
    const again = await stack.up({ message: "scale bench: no change", expectNoChanges: true });
    const refreshed = await stack.refresh({ expectNoChanges: true });
    const state = await stack.exportCheckpoint();
    // Last: the lab's hosts are loaded for a while after a verification's 609 deliveries (a no-change
    // up right after one took 16.7 s instead of 6.5 s), which would skew the engine figures.
    // The verification as a production stack runs it: probe mailboxes only (one per domain), every route read.
    const probes = [...new Map(loadStack(name, 4).inventory.mailboxList.map((m) => [m.address.split("@")[1], m.address])).values()];
    const withProbes = parse(readFileSync(file, "utf8"));
    withProbes.config[CONFIG.inventory].verification = { probes };
    // The lab's MTA-STS web server has certificates for the lab shapes' domains only: the enforcing
    // sender could not fetch the 200 more domains' policies. Not what this measures.
    delete withProbes.config[CONFIG.inventory].gateway.mtaSts;
    delete withProbes.config[CONFIG.inventory].internet.mtaStsSender;
    writeFileSync(file, stringify(withProbes));
    // Mail from outside sent from here, as a production stack's is: the lab's outside host resolves the
    // lab shapes' zones only, and the 200 more are served by the lab's DNS server, asked directly.
    const p = stackPlan(name, 4);
    const production = { ...p, hosts: p.hosts.filter((h) => h.role !== "internet") };
    const v = await verifyPhase(production, { session, timeoutMs: 120_000, outside: { resolvers: [lab.dnsServer] } }).finally(() =>
      pool.closeAll(),
    );
    writeFileSync(file, stringify(doc));
    const verification = {
      probes: probes.length,
      messages: v.flows.length,
      routes: (v.routes ?? []).reduce((n, r) => n + r.checked, 0),
      passed: v.passed,
      seconds: v.seconds,
    };
    progress(
      `bench: verification with ${verification.probes} probe mailboxes: ${verification.messages} messages, ${verification.routes} routes, ${v.passed ? "passed" : `NOT passed: ${[...v.flows.filter((f) => !f.passed).map((f) => f.detail), ...v.undecided].slice(0, 3).join("; ")}`}, ${v.seconds.toFixed(1)} s`,
    );
    return {
      zones,
      mailboxes,
      resources: first.steps.filter((s) => s.op !== "same").length,
      firstUpSeconds: first.seconds,
      noChangeUpSeconds: again.seconds,
      refreshSeconds: refreshed.seconds,
      stateMiB: Buffer.byteLength(state) / 2 ** 20,
      routeCheckSeconds,
      routesChecked: routes.reduce((n, r) => n + r.checked, 0),
      routesDiffering: routes.reduce((n, r) => n + r.differing.length, 0),
      verification,
    };
  } finally {
    await stack.destroy().catch((e: Error) => progress(`bench: destroy: ${e.message.split("\n")[0]}`));
    await removeLabStack(stack).catch(() => undefined);
    await serveExtraZones([]);
  }
}
