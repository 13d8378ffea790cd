/**
 * What the lab's gateway does for its clients, as a real one does, checked with real messages sent
 * to the gateway by its name, as the clients have it configured: an office client relays through it
 * (the legacy gateway's own mynetworks; gateway.relayClients wherever the identity is), a roaming
 * user submits with SASL over STARTTLS (gateway.services: submission), both to a partner that the
 * legacy gateway reaches by its own transport entry, and an internal header is stripped (the
 * organisation's header_checks, on both systems). A stranger may not relay. Cutover must keep all
 * of it through every phase and rollback, whichever system holds the gateway's name.
 */
import { newMarker, relayVerdict, waitFor } from "../src/checks/mail";
import type { Plan } from "../src/model/plan";
import { run } from "../src/remote/local";
import type { HostSession } from "../src/remote/ssh";
import { PARTNER_MAILBOX, ROAMING_USER, STRIPPED_HEADER } from "./daemons";
import { OFFICE_NS } from "./layout";

export interface OwnServiceCheck {
  service: "office relay" | "SASL submission" | "stranger refused";
  ok: boolean;
  detail: string;
}

/** How long a message to the partner may take, at most, before the check calls it lost. */
const DELIVERY_TIMEOUT_MS = 20_000;

/** The partner's maildir file holding the marker, read on the model Internet host. */
async function partnerCopy(internet: HostSession, marker: string): Promise<string | undefined> {
  const base = (await internet.exec(["postconf", "-h", "virtual_mailbox_base"])).stdout.trim();
  const domain = PARTNER_MAILBOX.slice(PARTNER_MAILBOX.indexOf("@") + 1);
  const r = await internet.exec(
    ["sh", "-c", 'f=$(grep -rlF -- "$1" "$2" | head -1); [ -n "$f" ] && cat "$f"', "sh", marker, `${base}/${domain}/`],
    {
      allowFailure: true,
    },
  );
  return r.code === 0 && r.stdout ? r.stdout : undefined;
}

/** swaks's exit code and the reply that failed it (its last error line, else its last reply), as a short text. */
const outcome = (r: { code: number; stdout: string; stderr: string }) => {
  const lines = `${r.stdout}\n${r.stderr}`.split("\n");
  const failed = lines.filter((l) => /^\s*<\*\*\s/.test(l) || l.startsWith("***")).at(-1);
  return `exit ${r.code}: ${(failed ?? lines.filter((l) => /^\s*<-\s/.test(l)).at(-1))?.trim()}`;
};

/**
 * Where the gateway's clients reach it in the plan's phase: its name, once the plan publishes the
 * name's address; before that (the lab's zones start empty, where an organisation's zone already
 * has the name), the address the name is to hold. Pure.
 */
export function gatewayServer(p: Plan): string {
  const { hostName, address } = p.gateway;
  return p.zones.some((z) => z.records.some((r) => r.name === hostName && r.type === "A" && r.values.includes(address)))
    ? hostName
    : address;
}

/**
 * Sends to the gateway at `server` (its name: lab/rehearsal.ts) as an office client and as the
 * roaming user, and as a stranger who must be refused; waits for the two messages at the partner.
 */
export async function checkGatewayOwnServices(internet: HostSession, server: string): Promise<OwnServiceCheck[]> {
  const [office, roaming] = [newMarker(), newMarker()];
  const swaks = (to: string, marker: string, extra: string[]) => [
    "swaks",
    "--server",
    to,
    "--to",
    PARTNER_MAILBOX,
    "--header",
    `Subject: ${marker}`,
    "--body",
    marker,
    "--timeout",
    "10",
    ...extra,
  ];
  const [fromOffice, fromRoaming, fromStranger] = await Promise.all([
    run(
      [
        "ip",
        "netns",
        "exec",
        OFFICE_NS,
        ...swaks(server, office, ["--from", "printer@office.lab.invalid", "--header", `${STRIPPED_HEADER}: floor 2`]),
      ],
      {
        allowFailure: true,
        timeoutMs: 30_000,
      },
    ),
    internet.exec(
      swaks(`${server}:587`, roaming, [
        "--from",
        `${ROAMING_USER.name}@lab.invalid`,
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        ROAMING_USER.name,
        "--auth-password",
        ROAMING_USER.password,
      ]),
      { allowFailure: true, timeoutMs: 30_000 },
    ),
    internet.exec(
      [
        "swaks",
        "--server",
        server,
        "--from",
        "stranger@elsewhere.invalid",
        "--to",
        PARTNER_MAILBOX,
        "--quit-after",
        "RCPT",
        "--timeout",
        "10",
      ],
      {
        allowFailure: true,
        timeoutMs: 30_000,
      },
    ),
  ]);
  const delivered = async (marker: string, sent: { code: number; stdout: string; stderr: string }) => {
    if (sent.code !== 0) return { copy: undefined, detail: `not accepted (${outcome(sent)})` };
    const copy = await waitFor(
      () => partnerCopy(internet, marker),
      (c) => c !== undefined,
      DELIVERY_TIMEOUT_MS,
      250,
    );
    return {
      copy,
      detail: copy ? `delivered to ${PARTNER_MAILBOX}` : `accepted but not at ${PARTNER_MAILBOX} within ${DELIVERY_TIMEOUT_MS / 1000} s`,
    };
  };
  const [o, r] = await Promise.all([delivered(office, fromOffice), delivered(roaming, fromRoaming)]);
  const stripped = o.copy !== undefined && !o.copy.includes(`${STRIPPED_HEADER}:`);
  const stranger = relayVerdict(`${fromStranger.stdout}\n${fromStranger.stderr}`, fromStranger.code);
  return [
    {
      service: "office relay",
      ok: o.copy !== undefined && stripped,
      detail: `${o.detail}${o.copy === undefined ? "" : stripped ? `, ${STRIPPED_HEADER} stripped` : `, ${STRIPPED_HEADER} NOT stripped`}`,
    },
    { service: "SASL submission", ok: r.copy !== undefined, detail: r.detail },
    // Refused at RCPT with 5xx: a 4xx ("try later") is no refusal, whatever its text.
    { service: "stranger refused", ok: stranger.verdict === "refused", detail: stranger.detail },
  ];
}
