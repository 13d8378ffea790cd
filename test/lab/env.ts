/** The lab as tests see it: its description, the pilot inventory and SSH targets for its hosts. */
import { readFileSync } from "node:fs";
import { type LabDescription, labHostKeys, readLabDescription } from "../../lab/lab";
import { labGatewayTls, labMtaSts } from "../../lab/lab-stack";
import type { HostRole, Inventory, Phase } from "../../src/model/inventory";
import { type RecordType, tlsaPresentation } from "../../src/model/records";
import { loadStack } from "../../src/model/stack-file";
import { run } from "../../src/remote/local";
import type { HostTarget } from "../../src/remote/ssh";
import { hostTarget, sshEndpoint } from "../../src/remote/targets";

export interface TestLab {
  description: LabDescription;
  inventory(phase: Phase): Inventory;
  target(role: HostRole): HostTarget;
  /** Runs a client inside a lab host's namespace (dig, for instance). */
  inHost(role: HostRole, argv: string[]): Promise<string>;
  /**
   * Moves the gateway's service address from one host to the other by hand, as an administrator's
   * `ip addr` would (announced by gratuitous ARP), past cutover and its stack.
   */
  moveAddressByHand(from: HostRole, to: HostRole): Promise<void>;
}

export function testLab(): TestLab {
  if (!process.env.CUTOVER_IN_LAB) throw new Error("lab tests run from the lab's operator namespace: use npm test (it builds the lab)");
  const description = readLabDescription();
  const privateKey = readFileSync(description.adminKeyPath, "utf8");
  return {
    description,
    // The pilot's inventory with the lab's TLS identity and MTA-STS, as every lab stack has them.
    inventory: (phase) => {
      const inv = loadStack("pilot", phase).inventory;
      const tls = labGatewayTls(description);
      const sts = labMtaSts(description);
      return {
        ...inv,
        gateway: { ...inv.gateway, ...(tls ? { tls } : {}), ...(sts ? { mtaSts: sts.mtaSts } : {}) },
        ...(sts && inv.internet ? { internet: { ...inv.internet, mtaStsSender: sts.sender } } : {}),
      };
    },
    target: (role) => hostTarget(sshEndpoint(loadStack("pilot", 1).inventory, role, labHostKeys(description)), privateKey),
    inHost: async (role, argv) => (await run(["ip", "netns", "exec", description.hosts[role]!.namespace, ...argv])).stdout,
    moveAddressByHand: async (from, to) => {
      const address = description.serviceAddress;
      const inNs = (role: HostRole, argv: string[]) => run(["ip", "netns", "exec", description.hosts[role]!.namespace, ...argv]);
      await inNs(from, ["ip", "addr", "del", `${address}/24`, "dev", description.hosts[from]!.interface]);
      await inNs(to, ["ip", "addr", "add", `${address}/24`, "dev", description.hosts[to]!.interface]);
      await inNs(to, ["arping", "-q", "-U", "-c", "2", "-I", description.hosts[to]!.interface, address]);
    },
  };
}

/** `dig +short` answer lines in the plan's terms (no trailing dot, TXT unquoted, TLSA whole and lower-case), sorted. */
export const digValues = (answer: string, type: RecordType): string[] =>
  answer
    .trim()
    .split("\n")
    .map((v) => (type === "TLSA" ? tlsaPresentation(v) : v.replace(/\.$/, "").replace(/^"(.*)"$/, "$1")))
    .sort();

/**
 * The verification's messages (subject cutover-<time>-<hex>) in a domain's mailboxes on a lab host,
 * each file's path and headers: what must be empty once probe copies are removed.
 */
export const verificationMessagesIn = (lab: TestLab, role: HostRole, domain: string): Promise<string> =>
  lab.inHost(role, [
    "sh",
    "-c",
    'd="$(postconf -h virtual_mailbox_base)/$1"; [ ! -d "$d" ] || for f in $(grep -rlE "^Subject: cutover-[a-z0-9]+-[0-9a-f]{8}$" "$d"); do echo "== $f"; sed -n "1,/^$/p" "$f"; done',
    "sh",
    domain,
  ]);
