/**
 * Host identity: the name a host greets SMTP clients with, and whether it carries the gateway's
 * service address. The go-live moves both from the legacy gateway to the new server; rollback moves
 * them back.
 */
import { detached, execSequence, type HostSession, sectionMarker, sections } from "../ssh";
import { POSTFIX_RELOAD } from "./routing";

export interface ServiceAddress {
  address: string;
  prefixLength: number;
  /** Interface that carries it. */
  interface: string;
}

export interface HostIdentity {
  /** The name the host presents: its SMTP greeting and kernel host name (the gateway's, when it holds it). */
  hostName: string;
  /**
   * postfix myhostname: the host's own name, never shared. Postfix bounces mail to a server that
   * greets with its own myhostname ("loops back to myself"), so two hosts must never have the same
   * one, not even for the moment of a go-live; the gateway's name lives in the greeting instead.
   */
  ownName: string;
  /** Present on the host that holds the gateway identity. */
  holdsServiceAddress: boolean;
  service: ServiceAddress;
  /** Restoring a host as it was: the exact smtpd_banner and kernel name to put back. */
  banner?: string;
  kernelHostName?: string;
}

export interface LiveIdentity {
  /** The name in the SMTP greeting. */
  hostName: string;
  /** smtpd_banner as main.cf has it. */
  banner: string;
  ownName: string;
  kernelHostName: string;
  holdsServiceAddress: boolean;
}

export async function readIdentity(s: HostSession, service: ServiceAddress): Promise<LiveIdentity> {
  const { stdout } = await execSequence(
    s,
    [["postconf", "-h", "smtpd_banner"], sectionMarker, ["postconf", "-xh", "smtpd_banner"], sectionMarker, ["postconf", "-h", "myhostname"], sectionMarker, ["hostname"], sectionMarker, ["ip", "-o", "-4", "addr", "show", "dev", service.interface]],
    { continueOnError: true },
  );
  const [banner, expanded, own, kernel, addrs] = sections(stdout).map((x) => (x ?? "").trim());
  return {
    hostName: expanded.split(/\s+/)[0] ?? "",
    banner,
    ownName: own,
    kernelHostName: kernel,
    holdsServiceAddress: addrs.split("\n").some((l) => l.includes(` ${service.address}/`)),
  };
}

/**
 * The commands that add the service address (announced by gratuitous ARP, so neighbours stop
 * sending to the old holder at once instead of when their ARP entry expires: 47 s in the lab,
 * hours on real routers) or remove it. Pure.
 */
export function addressCommands(live: LiveIdentity, id: HostIdentity): string[][] {
  const { address, prefixLength, interface: dev } = id.service;
  if (id.holdsServiceAddress && !live.holdsServiceAddress)
    return [["ip", "addr", "add", `${address}/${prefixLength}`, "dev", dev], detached('setsid -f arping -q -U -c 3 -I "$1" "$2"', dev, address)];
  if (!id.holdsServiceAddress && live.holdsServiceAddress) return [["ip", "addr", "del", `${address}/${prefixLength}`, "dev", dev]];
  return [];
}

/**
 * The commands that set the greeting, postfix's own name and the kernel's host name. Postfix waits
 * about two seconds before it reloads a main.cf changed in the same moment; `background` lets the
 * reload finish after the command returns. Pure.
 */
export function nameCommands(live: LiveIdentity, id: HostIdentity, background = false): string[][] {
  const commands: string[][] = [];
  const kernel = id.kernelHostName ?? id.hostName;
  const banner = id.banner ?? `${id.hostName} ESMTP`;
  if (live.kernelHostName !== kernel) commands.push(["hostname", kernel]);
  const settings = [...(live.banner !== banner ? [`smtpd_banner=${banner}`] : []), ...(live.ownName !== id.ownName ? [`myhostname=${id.ownName}`] : [])];
  if (settings.length) commands.push(["postconf", "-e", ...settings], background ? detached("setsid -f postfix reload") : POSTFIX_RELOAD);
  return commands;
}

export const identityCommands = (live: LiveIdentity, id: HostIdentity) => [...addressCommands(live, id), ...nameCommands(live, id)];

/**
 * Moves the gateway identity among hosts in the order that keeps the outage to one round trip:
 * the holder takes the gateway's name first (postfix needs up to 2 s to reload after main.cf
 * changes, and it still answers only on its own address then), the others give up the address,
 * the holder takes it, and only then do the others take their own names. Returns what each host
 * had before.
 */
export async function applyGatewayIdentity(hosts: { session: HostSession; identity: HostIdentity }[]): Promise<LiveIdentity[]> {
  const live = await Promise.all(hosts.map((h) => readIdentity(h.session, h.identity.service)));
  const steps: { session: HostSession; commands: string[][] }[][] = [[], [], [], []];
  hosts.forEach((h, i) => {
    // The hosts that give the gateway up rename last, when nothing waits on them any more.
    const [rename, move] = [nameCommands(live[i], h.identity, !h.identity.holdsServiceAddress), addressCommands(live[i], h.identity)];
    const [renameStep, moveStep] = h.identity.holdsServiceAddress ? [0, 2] : [3, 1];
    steps[renameStep].push({ session: h.session, commands: rename });
    steps[moveStep].push({ session: h.session, commands: move });
  });
  for (const step of steps) await Promise.all(step.filter((x) => x.commands.length).map((x) => execSequence(x.session, x.commands)));
  return live;
}

/** Makes one host's identity what it should be, in one round trip after reading it. Returns whether anything changed. */
export async function applyIdentity(s: HostSession, id: HostIdentity): Promise<boolean> {
  const commands = identityCommands(await readIdentity(s, id.service), id);
  if (commands.length) await execSequence(s, commands);
  return commands.length > 0;
}
