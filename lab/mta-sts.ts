/**
 * MTA-STS in the lab (RFC 8461): the organisation's web server that serves each domain's policy at
 * https://mta-sts.<domain>/.well-known/mta-sts.txt (nginx from Debian, on the model Internet's host,
 * from the directory cutover writes the policies into), and a sender that enforces it:
 * postfix-mta-sts-resolver from Debian, asked by a transport of the outside host's postfix of its
 * own, which carries the mail of one outside user. The outside host's other mail keeps enforcing
 * DANE, so both kinds of sender are proven in every phase.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../src/remote/local";
import { hostDir, type PlannedLabHost } from "./layout";
import { inNamespace, startDaemon, waitListening } from "./namespaces";

/** The outside user whose mail goes through the MTA-STS-enforcing transport (inventory.internet.mtaStsSender of every lab stack). */
export const MTA_STS_SENDER = "sts-probe";
/** Where the MTA-STS resolver answers postfix's socketmap queries, on the outside host's loopback. */
const RESOLVER = { host: "127.0.0.1", port: 8461 };
/** The outside host's postfix transport that enforces MTA-STS. */
const TRANSPORT = "smtp-sts";

/** Where cutover writes the policies on the lab's web server (inventory.gateway.mtaSts.directory of every lab stack). */
export const policyDirectory = (h: Pick<PlannedLabHost, "role">) => join(hostDir(h.role), "www", "mta-sts");

/**
 * The outside host's MTA-STS-enforcing transport and the one sender routed to it, as postconf
 * arguments. The policy map's answer ("secure match=<mx names>") replaces the host's DANE level
 * for that transport only; the lab CA is its trust anchor (a real sender's is the WebPKI's).
 */
export function stsTransportSettings(
  senderAddress: string,
  caFile: string,
): { master: string[]; params: string[]; main: [name: string, value: string] } {
  const service = `${TRANSPORT}/unix`;
  return {
    master: [`${service}=${TRANSPORT} unix - - n - - smtp`],
    params: [
      `${service}/syslog_name=postfix/${TRANSPORT}`,
      `${service}/smtp_tls_policy_maps=socketmap:inet:${RESOLVER.host}:${RESOLVER.port}:postfix`,
      `${service}/smtp_tls_CAfile=${caFile}`,
    ],
    main: ["sender_dependent_default_transport_maps", `inline:{ ${senderAddress}=${TRANSPORT}: }`],
  };
}

/**
 * nginx from Debian serving https://mta-sts.<domain>/.well-known/mta-sts.txt for every domain from
 * <directory>/mta-sts.<domain>/ (nginx checks the Host header: no "..", no "/"), with a chain the
 * lab CA issued for every lab domain's mta-sts name. Its configuration, logs and temporary files
 * are the host's own, not Debian's /etc/nginx.
 */
export async function startPolicyWeb(h: PlannedLabHost, chainFile: string): Promise<void> {
  const dir = join(hostDir(h.role), "nginx");
  mkdirSync(join(dir, "tmp"), { recursive: true });
  mkdirSync(policyDirectory(h), { recursive: true });
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    [
      "worker_processes 1;",
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log;`,
      "events { worker_connections 64; }",
      "http {",
      `  access_log ${dir}/access.log;`,
      ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${dir}/tmp/${t};`),
      "  types { text/plain txt; }",
      "  default_type application/octet-stream;",
      "  server {",
      `    listen ${h.address}:443 ssl;`,
      "    server_name ~^mta-sts\\.;",
      `    ssl_certificate ${chainFile};`,
      `    ssl_certificate_key ${chainFile};`,
      `    root ${policyDirectory(h)}/$host;`,
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  await startDaemon(h.namespace, ["/usr/sbin/nginx", "-e", join(dir, "error.log"), "-c", conf]);
}

/**
 * postfix-mta-sts-resolver from Debian, on the outside host's loopback. It looks up `_mta-sts`
 * through the host's validating resolver and fetches the policy over HTTPS, trusting the lab CA.
 * Lab-only: `cache_grace: 0` asks for the policy id at every message (its default, 60 s, would
 * keep a policy a test has just changed for a minute; a real sender's grace is about that).
 */
export async function startStsResolver(h: Pick<PlannedLabHost, "role" | "namespace">, caFile: string): Promise<void> {
  const dir = join(hostDir(h.role), "mta-sts");
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, "mta-sts-daemon.yml");
  writeFileSync(
    conf,
    [
      `host: ${RESOLVER.host}`,
      `port: ${RESOLVER.port}`,
      "cache_grace: 0",
      "cache:",
      "  type: internal",
      "default_zone:",
      "  strict_testing: false",
      "  timeout: 4",
      "",
    ].join("\n"),
  );
  await startDaemon(h.namespace, [
    "env",
    `SSL_CERT_FILE=${caFile}`,
    "setsid",
    "-f",
    "/usr/bin/mta-sts-daemon",
    "-c",
    conf,
    "-l",
    join(dir, "mta-sts-daemon.log"),
  ]);
}

/**
 * Stops the outside host's MTA-STS resolver and starts it again with an empty cache: a sender that
 * has never fetched a domain's policy, as every sender is before its first message to the domain.
 */
export async function restartStsResolver(h: Pick<PlannedLabHost, "role" | "namespace">, caFile: string): Promise<void> {
  const conf = join(hostDir(h.role), "mta-sts", "mta-sts-daemon.yml");
  await run(["pkill", "-f", conf], { allowFailure: true });
  for (let i = 0; i < 50 && (await run(["pgrep", "-f", conf], { allowFailure: true })).code === 0; i++)
    await new Promise((r) => setTimeout(r, 100));
  await startStsResolver(h, caFile);
  await waitListening(h.namespace, [RESOLVER.port]);
}

/** What the outside host's MTA-STS resolver answers postfix for a domain, as postmap shows it ("secure match=..."; nothing when it has no policy). */
export async function askStsResolver(h: Pick<PlannedLabHost, "namespace">, domain: string): Promise<string> {
  const { stdout } = await inNamespace(h.namespace, ["postmap", "-q", domain, `socketmap:inet:${RESOLVER.host}:${RESOLVER.port}:postfix`], {
    allowFailure: true,
  });
  return stdout.trim();
}
