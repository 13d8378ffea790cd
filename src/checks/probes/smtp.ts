/**
 * The gateway address over SMTP: greeting, the answering server's own name, STARTTLS and the
 * open-relay test; with gateway.tls, the key and certificate each gateway serves.
 */
import { spkiDigest } from "../../model/certificate";
import { zoneFor } from "../../model/names";
import { queryRecord } from "../dns-query";
import { relayOver } from "../outside";
import { SmtpDialogue } from "../smtp-dialogue";
import { tlsTargets } from "../tls";
import { compared, type DriftOptions, type Finding, type Probe, probe, timeoutOf } from "./common";
import { authoritativeServers } from "./dns";

export function smtpProbes(o: DriftOptions): Probe[] {
  const p = o.plan;
  const subject = `${p.gateway.address}:25`;
  const answering = p.hosts.find((h) => h.role === p.gateway.holder);
  return [
    probe({ area: "smtp", subject, check: "greeting" }, async () => {
      const d = await SmtpDialogue.open(p.gateway.address, 25, timeoutOf(o));
      try {
        const at = (check: string) => ({ area: "smtp" as const, subject, check });
        const findings: Finding[] = [];
        const banner = d.greeting.replace(/^220[ -]/, "").split(/\s+/)[0] ?? "";
        findings.push(compared(at("banner"), banner === p.gateway.hostName, p.gateway.hostName, banner));
        const ehlo = await d.command("EHLO drift-check.invalid");
        const server = ehlo.lines[0]?.replace(/^250[ -]/, "").split(/\s+/)[0] ?? "";
        if (answering) findings.push(compared(at("answering server"), server === answering.ownName, answering.ownName, server));
        const tls = ehlo.lines.some((l) => /^250[ -]STARTTLS/i.test(l));
        if (o.starttls) findings.push(compared(at("STARTTLS"), tls, "offered", tls ? "offered" : "not offered"));
        // A mailbox the holder takes from outside, asked first: a refusal of the checking host is no pass.
        const control = p.flows.find((f) => f.from === "outside" && f.entry === p.gateway.holder)?.recipient;
        findings.push(await relayFinding(d, at("open relay"), control));
        return findings;
      } finally {
        await d.close();
      }
    }),
    ...tlsProbes(o),
  ];
}

const DAY_MS = 86_400_000;

/** The DANE-EE keys (3 1 1) of `name`'s port-25 TLSA record at the first authoritative server of its zone in the plan. */
async function publishedKeys(o: DriftOptions, name: string): Promise<string[]> {
  const zoneName = zoneFor(
    name,
    o.plan.zones.map((z) => z.name),
  );
  const zone = o.plan.zones.find((z) => z.name === zoneName);
  if (!zone) throw new Error(`no zone of the plan holds ${name}: its TLSA record cannot be read`);
  const [server] = await authoritativeServers(zone, o.plan.hosts, o.nsLookup);
  const answer = await queryRecord(server, `_25._tcp.${name}`, "TLSA", timeoutOf(o));
  if (answer.status !== "answer" && answer.status !== "nodata" && answer.status !== "nxdomain")
    throw new Error(`_25._tcp.${name} TLSA at ${server}: ${answer.status}`);
  return answer.values.filter((v) => v.startsWith("3 1 1 ")).map((v) => v.slice(6));
}

/**
 * The TLS identity served, over STARTTLS: at the gateway address, a key the TLSA record of its name
 * publishes; at each gateway serving the identity in this phase, its own key (so a TLSA record
 * whose key nobody serves shows as that gateway's drift); each certificate covering the name,
 * with more days left than inventory.gateway.tls.expiryWarningDays.
 */
function tlsProbes(o: DriftOptions): Probe[] {
  const p = o.plan;
  const tls = o.inventory.gateway.tls;
  if (!tls) return [];
  const short = (k: string) => `${k.slice(0, 16)}...`;
  // The targets share names (the gateway name at the address and at each gateway): each TLSA once.
  const asked = new Map<string, Promise<string[] | Error>>();
  const published = (name: string) => {
    if (!asked.has(name))
      asked.set(
        name,
        publishedKeys(o, name).catch((e: Error) => e),
      );
    return asked.get(name)!;
  };
  return tlsTargets(p).map(({ address, name, keys, role }) => {
    const whose = role ? `${role}'s` : `published in _25._tcp.${name}`;
    const subject = `${address}:25`;
    const at = (check: string) => ({ area: "smtp" as const, subject, check });
    return probe(at("TLS key"), async () => {
      const d = await SmtpDialogue.open(address, 25, timeoutOf(o));
      const ehlo = await d.command("EHLO drift-check.invalid");
      if (!ehlo.lines.some((l) => /^250[ -]STARTTLS/i.test(l))) {
        await d.close();
        return [compared(at("TLS key"), false, `STARTTLS with the key ${whose}`, "STARTTLS not offered")];
      }
      const cert = await d.startTls(name);
      const served = spkiDigest(cert.publicKey);
      const daysLeft = Math.floor((new Date(cert.validTo).getTime() - Date.now()) / DAY_MS);
      // What DANE senders match: the TLSA record as the name's zone publishes it (its signature and
      // the zone's DS are the DNS probes'), not as the plan writes it.
      const publishedNow = await published(name);
      return [
        compared(at("TLS key"), keys.includes(served), `the key ${whose} (${keys.map(short).join(", ") || "none"})`, short(served)),
        publishedNow instanceof Error
          ? { ...at("TLS key published"), status: "unreachable", actual: publishedNow.message }
          : compared(
              at("TLS key published"),
              publishedNow.includes(served),
              `a key of the TLSA record of ${name} as its zone serves it`,
              `${short(served)}; published: ${publishedNow.map(short).join(", ") || "none"}`,
            ),
        compared(at("TLS name"), cert.checkHost(name) !== undefined, `a certificate for ${name}`, cert.subjectAltName ?? cert.subject),
        compared(
          at("TLS expiry"),
          daysLeft > tls.expiryWarningDays,
          `more than ${tls.expiryWarningDays} days left`,
          `${daysLeft} days left (until ${new Date(cert.validTo).toISOString().slice(0, 10)})`,
        ),
      ];
    });
  });
}

/**
 * MAIL, RCPT for `control` (a mailbox the server serves, when given) and for an outside recipient,
 * then QUIT: no message is ever sent. The verdict is relayReplies': a 2xx for the outside recipient
 * is an open relay, a 5xx a refusal only when it says "Relay access denied" or the control was
 * taken; a refused MAIL, a 4xx or no answer cannot tell, and is reported as such, never as clean.
 */
export async function relayFinding(
  d: SmtpDialogue,
  where: Pick<Finding, "area" | "subject" | "check">,
  control?: string,
): Promise<Finding> {
  const { verdict, detail } = await relayOver(d, control, "drift-check@relay-test.invalid");
  if (verdict === "unknown") return { ...where, status: "unreachable", expected: "relay refused", actual: `could not check: ${detail}` };
  return compared(where, verdict === "refused", "relay refused", `${verdict === "refused" ? "refused" : "accepted"}: ${detail}`);
}
