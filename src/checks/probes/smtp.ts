/** The gateway address over SMTP: greeting, the answering server's own name, STARTTLS and the open-relay test. */
import { relayReplies } from "../mail";
import { SmtpDialogue } from "../smtp-dialogue";
import { compared, type DriftOptions, type Finding, type Probe, probe, timeoutOf } from "./common";

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
        findings.push(await relayFinding(d, at("open relay")));
        return findings;
      } finally {
        await d.close();
      }
    }),
  ];
}

/**
 * MAIL and RCPT for an outside recipient, then QUIT: no message is ever sent. Only a 5xx at RCPT
 * is a refusal and a 2xx an open relay; a refused MAIL, a 4xx ("try later") or no answer cannot
 * tell, and is reported as such, never as clean.
 */
export async function relayFinding(d: SmtpDialogue, where: Pick<Finding, "area" | "subject" | "check">): Promise<Finding> {
  const mail = await d.command("MAIL FROM:<drift-check@relay-test.invalid>");
  const rcpt = mail.code.startsWith("2") ? await d.command("RCPT TO:<relay-probe@elsewhere.invalid>") : undefined;
  const last = (r: { lines: string[]; code: string }) => r.lines.at(-1) ?? r.code;
  const { verdict, detail } = relayReplies({
    greeting: d.greeting.replace(/^220-/, "220 "),
    mail: last(mail),
    ...(rcpt ? { rcpt: last(rcpt) } : {}),
  });
  if (verdict === "unknown") return { ...where, status: "unreachable", expected: "relay refused", actual: `could not check: ${detail}` };
  return compared(where, verdict === "refused", "relay refused", `${verdict === "refused" ? "refused" : "accepted"}: ${detail}`);
}
