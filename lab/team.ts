/**
 * A team in the lab: the state backend a real team would share, PostgreSQL from Debian in a
 * namespace of its own, and a second operator's workstation, so two operators can race for one
 * stack. Built with the lab when asked (npm test does), from the root namespace: a namespace made
 * from inside another one lives in that one's mount namespace only. Torn down with the lab.
 */
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CutoverError } from "../src/model/errors";
import { run } from "../src/remote/local";
import { BRIDGE, keysDir, LAB_DIR, LAB_PREFIX, type LabDescription, OPERATOR_NS, type Progress, SWITCH_NS } from "./layout";
import { inNamespace, startDaemon, waitListening } from "./namespaces";

export const TEAM_DB_NS = `${LAB_PREFIX}-teamdb`;
export const TEAM_DB_ADDRESS = "198.51.100.60";
/** The second operator's workstation; the first is the lab's operator namespace. */
export const SECOND_OPERATOR_NS = `${LAB_PREFIX}-operator2`;
const SECOND_OPERATOR_ADDRESS = "198.51.100.3";
const PREFIX_LENGTH = 24;

export type Team = NonNullable<LabDescription["team"]>;

/** The newest PostgreSQL server Debian installed (postgresql-15 on Debian 12). */
function postgresBin(): string {
  const versions = existsSync("/usr/lib/postgresql") ? readdirSync("/usr/lib/postgresql").filter((v) => /^\d+$/.test(v)) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new CutoverError("lab: PostgreSQL is not installed: npm run lab -- up installs it (package postgresql)");
  return `/usr/lib/postgresql/${newest}/bin`;
}

/** A namespace on the lab's bridge with one address. Both ends of its link are made inside namespaces. */
async function attach(ns: string, link: string, address: string): Promise<void> {
  await run(["ip", "netns", "add", ns]);
  await run(["ip", "-n", SWITCH_NS, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns]);
  await run(["ip", "-n", SWITCH_NS, "link", "set", link, "master", BRIDGE, "up"]);
  await run(["ip", "-n", ns, "link", "set", "lo", "up"]);
  await run(["ip", "-n", ns, "addr", "add", `${address}/${PREFIX_LENGTH}`, "dev", "eth0"]);
  await run(["ip", "-n", ns, "link", "set", "eth0", "up"]);
}

const asPostgres = (argv: string[]) => ["runuser", "-u", "postgres", "--", ...argv];

const TEAM_DIR = join(LAB_DIR, "hosts", "teamdb");

/**
 * Stops the team's PostgreSQL by the PID in its postmaster.pid (the lab kills only what it
 * started), before the lab's namespaces go.
 */
export async function teamDown(): Promise<void> {
  const pidFile = join(TEAM_DIR, "data", "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  try {
    process.kill(pid, "SIGINT");
  } catch {
    return;
  }
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && existsSync(`/proc/${pid}`)) await new Promise((r) => setTimeout(r, 50));
}

/** Brings the team up (run from the root namespace, with the lab): PostgreSQL with a role and database for the state, and the second workstation. */
export async function teamUp(progress: Progress = () => {}): Promise<Team> {
  const passwordFile = join(keysDir, "teamdb-password");
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(18).toString("base64url"), { mode: 0o600 });
  const password = readFileSync(passwordFile, "utf8").trim();
  const team: Team = {
    backendUrl: `postgres://cutover:${password}@${TEAM_DB_ADDRESS}:5432/pulumi?sslmode=disable`,
    operators: [OPERATOR_NS, SECOND_OPERATOR_NS],
    otherRoleUrl: `postgres://reporting:${password}@${TEAM_DB_ADDRESS}:5432/pulumi?sslmode=disable`,
  };
  const started = Date.now();
  const bin = postgresBin();
  await attach(SECOND_OPERATOR_NS, `${LAB_PREFIX}-op2`, SECOND_OPERATOR_ADDRESS);
  await attach(TEAM_DB_NS, `${LAB_PREFIX}-tdb`, TEAM_DB_ADDRESS);

  const dir = TEAM_DIR;
  const data = join(dir, "data");
  mkdirSync(data, { recursive: true, mode: 0o700 });
  const pg = (await run(["id", "-u", "postgres"])).stdout.trim();
  chownSync(dir, Number(pg), Number(pg));
  chownSync(data, Number(pg), Number(pg));
  // Debian's defaults, as pg_createcluster makes them: peer on the socket, scram-sha-256 over TCP.
  await run(asPostgres([`${bin}/initdb`, "-D", data, "--auth-local=peer", "--auth-host=scram-sha-256", "-U", "postgres", "--no-sync"]));
  // Lab-only: the operators' subnet may connect with a password (Debian's pg_hba allows only localhost).
  writeFileSync(
    join(data, "pg_hba.conf"),
    `${readFileSync(join(data, "pg_hba.conf"), "utf8")}\n# cutover lab: the operators' workstations\nhost pulumi cutover 198.51.100.0/24 scram-sha-256\n# cutover lab: another role of the organisation's that may connect (a reporting tool)\nhost pulumi reporting 198.51.100.0/24 scram-sha-256\n`,
  );
  progress(`lab team: PostgreSQL ${bin.split("/")[4]} in ${TEAM_DB_NS} at ${TEAM_DB_ADDRESS}`);
  await startDaemon(TEAM_DB_NS, [
    "runuser",
    "-u",
    "postgres",
    "--",
    `${bin}/pg_ctl`,
    "-D",
    data,
    "-l",
    join(dir, "log"),
    "-o",
    // Lab-only: listen on the lab address, and keep the socket in the lab's directory.
    `-c listen_addresses=${TEAM_DB_ADDRESS} -c unix_socket_directories=${dir}`,
    "start",
  ]);
  await waitListening(TEAM_DB_NS, [5432]);
  // The role's password goes to psql on standard input, never on a command line.
  await inNamespace(TEAM_DB_NS, asPostgres([`${bin}/psql`, "-h", dir, "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-f", "-"]), {
    input: `create role cutover login password '${password}';\ncreate database pulumi owner cutover;\ncreate role reporting login password '${password}';\n`,
  });
  progress(`lab team: up in ${((Date.now() - started) / 1000).toFixed(1)} s (backend ${team.backendUrl.replace(password, "****")})`);
  return team;
}
