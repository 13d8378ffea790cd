/**
 * Holding a stack for a whole command (guards, preview, confirmation, up, verification), so two
 * operators cannot both pass the guards: the engine's own lock covers only the `up`. The hold lives
 * in the stack's backend, where every operator of the team looks:
 * - PostgreSQL: a session-level advisory lock. It dies with the holder's connection, so a killed
 *   command never leaves the stack held; the holder's session names who holds it and since when.
 * - A local directory (file://): a hold file created exclusively beside the backend's .pulumi
 *   directory; one left by a process that is gone from this machine is taken over.
 * - Elsewhere (S3, Pulumi Cloud): no hold; the engine's lock alone guards the up.
 */
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { StackBusyError } from "./errors";

export interface StackHold {
  /** Where the hold lives, for progress output. */
  where: string;
  /** Why the hold ended before release (its session was terminated), or undefined while it holds. */
  lost?(): string | undefined;
  release(): Promise<void>;
}

/** Who runs this command: user@host pid. */
/** Who runs this command, as update messages name them. */
export const operatorName = () => `${userInfo().username}@${hostname()}`;
const operator = () => `${operatorName()} pid ${process.pid}`;

/**
 * Takes the stack for `command` ("phase 5", "rollback"), or throws StackBusyError naming who holds
 * it and since when. Undefined when the backend offers no hold.
 */
export async function holdStack(
  backendUrl: string | undefined,
  project: string,
  stack: string,
  command: string,
): Promise<StackHold | undefined> {
  if (!backendUrl) return undefined;
  if (/^postgres(ql)?:\/\//.test(backendUrl)) return holdInPostgres(backendUrl, project, stack, command);
  if (backendUrl.startsWith("file://")) return holdInDirectory(fileURLToPath(backendUrl), project, stack, command);
  return undefined;
}

/** The two 32-bit keys of a stack's advisory lock: from its project and name, the same for everyone. */
function advisoryKeys(project: string, stack: string): [number, number] {
  const h = createHash("sha256").update(`cutover hold ${project}/${stack}`).digest();
  return [h.readInt32BE(0), h.readInt32BE(4)];
}

/** The backend URL as a connection string for the pg client: the backend's own `table` parameter removed. */
function connectionString(backendUrl: string): string {
  const url = new URL(backendUrl);
  url.searchParams.delete("table");
  return url.toString();
}

async function holdInPostgres(backendUrl: string, project: string, stack: string, command: string): Promise<StackHold> {
  const { Client } = await import("pg");
  // PostgreSQL keeps 63 bytes of an application name: what the other operator will be told.
  const client = new Client({
    connectionString: connectionString(backendUrl),
    application_name: `cutover ${command} ${operator()}`.slice(0, 63),
  });
  // The session can end under the command (pg_terminate_backend, a restart, a failover,
  // idle_session_timeout): the client then emits "error", which would end the process unheard. Kept
  // as why the hold was lost; the command asks before its update, and changes nothing if so.
  let lost: string | undefined;
  let released = false;
  client.on("error", (e) => {
    lost ??= e.message;
  });
  client.on("end", () => {
    if (!released) lost ??= "its PostgreSQL session ended";
  });
  await client.connect();
  const [k1, k2] = advisoryKeys(project, stack);
  try {
    const { rows } = await client.query<{ held: boolean }>("select pg_try_advisory_lock($1, $2) as held", [k1, k2]);
    if (!rows[0].held) {
      const holder = await client.query<{ application_name: string; client_addr: string | null; since: Date }>(
        `select a.application_name, host(a.client_addr) as client_addr, a.backend_start as since
           from pg_locks l join pg_stat_activity a on a.pid = l.pid
          where l.locktype = 'advisory' and l.granted and l.classid = $1 and l.objid = $2 and l.objsubid = 2`,
        [k1 >>> 0, k2 >>> 0],
      );
      const h = holder.rows[0];
      throw new StackBusyError(
        stack,
        h
          ? `${h.application_name}${h.client_addr ? ` from ${h.client_addr}` : ""}, since ${h.since.toISOString()}`
          : "another operator (who released it just now)",
      );
    }
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
  return {
    where: `PostgreSQL advisory lock ${k1}/${k2}`,
    lost: () => lost,
    release: async () => {
      released = true;
      if (!lost) await client.query("select pg_advisory_unlock($1, $2)", [k1, k2]).catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}

interface HoldFile {
  operator: string;
  host: string;
  pid: number;
  command: string;
  since: string;
}

function holdInDirectory(dir: string, project: string, stack: string, command: string): StackHold {
  const holds = join(dir, ".cutover-holds", project);
  mkdirSync(holds, { recursive: true });
  const path = join(holds, `${stack}.json`);
  const mine: HoldFile = { operator: operator(), host: hostname(), pid: process.pid, command, since: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o644);
      writeSync(fd, `${JSON.stringify(mine)}\n`);
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const held = readHold(path);
      if (attempt === 0 && held && held.host === hostname() && !alive(held.pid)) {
        rmSync(path, { force: true });
        continue;
      }
      throw new StackBusyError(
        stack,
        held ? `cutover ${held.command} ${held.operator}, since ${held.since}` : `a hold file ${path} that cannot be read`,
      );
    }
  }
  return {
    where: path,
    release: async () => {
      const held = readHold(path);
      if (held?.pid === process.pid && held.host === hostname()) rmSync(path, { force: true });
    },
  };
}

function readHold(path: string): HoldFile | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as HoldFile;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
