/** The gateway address over SMTP: greeting, the answering server's own name, STARTTLS and the open-relay test. */
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
        // MAIL and RCPT for an outside recipient, then QUIT: no message is ever sent.
        await d.command("MAIL FROM:<drift-check@relay-test.invalid>");
        const rcpt = await d.command("RCPT TO:<relay-probe@elsewhere.invalid>");
        const open = /^2/.test(rcpt.code);
        findings.push(compared(at("open relay"), !open, "relay refused", `${open ? "accepted" : "refused"}: ${rcpt.lines.at(-1)}`));
        return findings;
      } finally {
        await d.close();
      }
    }),
  ];
}
