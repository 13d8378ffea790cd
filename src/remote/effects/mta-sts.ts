/**
 * The MTA-STS policy files on the host whose web server serves https://mta-sts.<domain>/: one file
 * per domain, <directory>/mta-sts.<domain>/.well-known/mta-sts.txt, written atomically (a sender
 * fetching it mid-update reads the old policy or the new one, never half of one). cutover owns
 * those directories and nothing else in <directory>: the web server's own configuration (which
 * name maps to which directory, its certificate) is the host's.
 */
import { DOMAIN_NAME } from "../../model/names";
import { refuseControl } from "../../model/text";
import type { HostSession } from "../ssh";

export interface PolicyFile {
  domain: string;
  text: string;
}

/** The directory a domain's policy host name serves, under `directory`; a domain that is not plain DNS labels is refused. */
export function policyDirectory(directory: string, domain: string): string {
  refuseControl("the MTA-STS domain", domain);
  if (!DOMAIN_NAME.test(domain)) throw new Error(`refusing to write an MTA-STS policy for ${JSON.stringify(domain)}: not a domain name`);
  return `${directory}/mta-sts.${domain}`;
}

export const policyPath = (directory: string, domain: string) => `${policyDirectory(directory, domain)}/.well-known/mta-sts.txt`;

/**
 * Refuses to go on when a path cutover writes or reads under <directory> (a domain's directory, its
 * .well-known, the policy file) is a symbolic link: as root, cutover would write or read wherever it
 * points (a link to /etc would have it write there, or read a file into the stack's state).
 */
async function refuseLinks(s: HostSession, directory: string, domains: string[]): Promise<void> {
  const paths = domains.flatMap((d) => {
    const dir = policyDirectory(directory, d);
    return [dir, `${dir}/.well-known`, `${dir}/.well-known/mta-sts.txt`];
  });
  if (!paths.length) return;
  const { stdout } = await s.exec(["sh", "-c", 'for p; do [ ! -L "$p" ] || echo "$p"; done', "sh", ...paths]);
  const links = stdout.split("\n").filter(Boolean);
  if (links.length)
    throw new Error(
      `on ${s.target.name}: refusing to write or read MTA-STS policies through symbolic links (${links.join(", ")}): as root that reaches wherever they point; make each a plain directory or file`,
    );
}

/** Writes each domain's policy, and removes the directories of the domains in `previous` that no longer have one. */
export async function applyPolicies(s: HostSession, directory: string, policies: PolicyFile[], previous: string[] = []): Promise<void> {
  await refuseLinks(
    s,
    directory,
    policies.map((p) => p.domain),
  );
  const dirs = policies.map((p) => `${policyDirectory(directory, p.domain)}/.well-known`);
  if (dirs.length) await s.exec(["mkdir", "-p", "--", ...dirs]);
  for (const p of policies) await s.writeFile(policyPath(directory, p.domain), p.text, 0o644);
  const gone = previous.filter((d) => !policies.some((p) => p.domain === d)).map((d) => policyDirectory(directory, d));
  if (gone.length) await s.exec(["rm", "-rf", "--", ...gone]);
}

/** Each domain's policy file as it is on the host (undefined: none there), all in one round trip. */
export async function readPolicies(s: HostSession, directory: string, domains: string[]): Promise<Record<string, string | undefined>> {
  if (!domains.length) return {};
  await refuseLinks(s, directory, domains);
  const { stdout } = await s.exec([
    "sh",
    "-c",
    'for f; do if [ -f "$f" ]; then base64 -w0 < "$f"; echo; else echo -; fi; done',
    "sh",
    ...domains.map((d) => policyPath(directory, d)),
  ]);
  const lines = stdout.split("\n");
  return Object.fromEntries(
    domains.map((d, i) => [d, lines[i] === "-" ? undefined : Buffer.from(lines[i] ?? "", "base64").toString("utf8")]),
  );
}

/** Removes every domain's policy directory cutover wrote (delete). */
export async function removePolicies(s: HostSession, directory: string, domains: string[]): Promise<void> {
  await applyPolicies(s, directory, [], domains);
}
