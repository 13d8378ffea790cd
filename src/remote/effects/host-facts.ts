/**
 * What a gateway host is, read at cutover's first contact with it in a phase: its system, its mail
 * server, its init. Cutover configures postfix only, through postconf and postfix's own commands:
 * a host running another MTA (exim, sendmail) or a postfix older than the features cutover uses is
 * refused before anything changes, with one line that names what it found. Sendmail is known by its
 * own binary (Debian's /usr/lib/sm.bin, the alternatives' sendmail.sendmail), not by
 * /usr/sbin/sendmail, which every MTA installs, postfix included.
 */
import type { HostSession } from "../ssh";

export interface HostFacts {
  /** os-release's PRETTY_NAME, or "unknown". */
  system: string;
  /** "postfix" with its mail_version, or the other MTA found ("exim", "sendmail"), or "none". */
  mta: { name: "postfix" | "exim" | "sendmail" | "none"; version?: string; detail?: string };
  /** The name of process 1 (systemd, init, ...). */
  init: string;
}

/** Oldest postfix cutover drives: `postconf -P` and `-X` (2.11), `smtpd_relay_restrictions` (2.10), its 3.x defaults. */
export const MIN_POSTFIX = [3, 0] as const;

const FACTS = `. /etc/os-release 2>/dev/null; echo "system=$PRETTY_NAME"
if command -v postconf >/dev/null 2>&1; then echo "mta=postfix $(postconf -h mail_version 2>/dev/null)"
elif command -v exim4 >/dev/null 2>&1 || command -v exim >/dev/null 2>&1; then echo "mta=exim $( (exim4 -bV || exim -bV) 2>/dev/null | head -1)"
elif [ -x /usr/lib/sm.bin/sendmail ]; then echo "mta=sendmail /usr/lib/sm.bin/sendmail"
elif [ -x /usr/sbin/sendmail.sendmail ]; then echo "mta=sendmail /usr/sbin/sendmail.sendmail"
else echo "mta=none"; fi
echo "init=$(ps -o comm= -p 1 2>/dev/null || cat /proc/1/comm 2>/dev/null)"`;

export async function readHostFacts(s: HostSession): Promise<HostFacts> {
  const { stdout } = await s.exec(["sh", "-c", FACTS], { timeoutMs: 20_000 });
  const field = (k: string) => stdout.match(new RegExp(`^${k}=(.*)$`, "m"))?.[1]?.trim() ?? "";
  const [name, ...rest] = field("mta").split(" ");
  const detail = rest.join(" ").trim();
  const mta: HostFacts["mta"] =
    name === "postfix"
      ? { name, version: detail }
      : name === "exim" || name === "sendmail"
        ? { name, ...(detail ? { detail } : {}) }
        : { name: "none" };
  return { system: field("system") || "unknown", mta, init: field("init") || "unknown" };
}

/** Why cutover cannot drive this host's mail server, naming what it found and the fix; undefined when it can. Pure. */
export function factsProblem(host: string, f: HostFacts): string | undefined {
  const what = `${host} (${f.system})`;
  if (f.mta.name === "exim" || f.mta.name === "sendmail")
    return `${what} runs ${f.mta.name}${f.mta.detail ? ` (${f.mta.detail})` : ""}, not postfix: cutover configures postfix only; run this gateway on postfix, or leave it out of the stack`;
  if (f.mta.name === "none") return `${what} has no postfix (no postconf on its PATH): install postfix there, or check the SSH user's PATH`;
  const [major, minor] = (f.mta.version ?? "").split(".").map(Number);
  if (!(major > MIN_POSTFIX[0] || (major === MIN_POSTFIX[0] && minor >= MIN_POSTFIX[1])))
    return `${what} runs postfix ${f.mta.version || "of an unknown version"}, older than the ${MIN_POSTFIX.join(".")} cutover needs: upgrade postfix there first`;
  return undefined;
}

/** The facts in one line, for the preview's header: "Debian GNU/Linux 12 (bookworm), postfix 3.7.11, systemd". Pure. */
export const factsLine = (f: HostFacts) => `${f.system}, ${f.mta.name}${f.mta.version ? ` ${f.mta.version}` : ""}, ${f.init}`;
