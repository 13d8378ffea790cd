/**
 * Holding a stack for a whole command (guards, preview, confirmation, up, verification), so two
 * operators cannot both pass the guards: the engine's own lock covers only the `up`. The hold lives
 * in the stack's backend, where every operator of the team looks:
 * - PostgreSQL: the stack's row in a table of cutover's, locked by the holder's open transaction.
 *   It dies with the holder's connection, so a killed command never leaves the stack held; the
 *   holder's session names who holds it and since when; only cutover's role may lock it.
 * - A local directory (file://): a hold file created exclusively beside the backend's .pulumi
 *   directory; one left by a process that is gone from this machine is taken over.
 * - Elsewhere (S3, Pulumi Cloud): no hold; the engine's lock alone guards the up.
 */
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
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

/** The backend URL as a connection string for the pg client: the backend's own `table` parameter removed. */
function connectionString(backendUrl: string): string {
  const url = new URL(backendUrl);
  url.searchParams.delete("table");
  return url.toString();
}

/**
 * The holds' table: one row per stack, locked (FOR UPDATE) by the transaction of the command that
 * holds the stack. Locking a row takes the UPDATE privilege on the table, which only its owner
 * (the role cutover runs as, which created it) has: another role that may connect to the database
 * cannot take a stack's hold, let alone keep it (an advisory lock's keys, by contrast, are anyone's
 * to take). The breaks' table records every hold broken by `npm run hold -- <stack> --break`.
 */
const HOLDS_TABLE = "cutover_holds";
const BREAKS_TABLE = "cutover_hold_breaks";
const CREATE_TABLES = [
  `create table if not exists ${HOLDS_TABLE} (project text not null, stack text not null, primary key (project, stack))`,
  `create table if not exists ${BREAKS_TABLE} (project text not null, stack text not null, holder text not null, broken_by text not null, at timestamptz not null default now())`,
];
/**
 * Creates the tables where missing. Two first commands at once may race on `if not exists`: the
 * loser's duplicate (23505 on the catalog, 42P07) means the table is there.
 */
async function createTables(client: PgClient): Promise<void> {
  for (const sql of CREATE_TABLES)
    await client.query(sql).catch((e: { code?: string }) => {
      if (e.code !== "23505" && e.code !== "42P07") throw e;
    });
}

/** PostgreSQL's "could not obtain lock on row" (FOR UPDATE NOWAIT against a held row). */
const LOCK_NOT_AVAILABLE = "55P03";

type PgClient = import("pg").Client;

async function connectAs(backendUrl: string, applicationName: string): Promise<PgClient> {
  const { Client } = await import("pg");
  // PostgreSQL keeps 63 bytes of an application name: what the other operator will be told.
  return new Client({ connectionString: connectionString(backendUrl), application_name: applicationName.slice(0, 63) });
}

/** Who holds a stack's row, as its session tells: the application name (command, operator, pid), address and start. */
async function rowHolder(client: PgClient, project: string, stack: string): Promise<{ pid: number; text: string } | undefined> {
  // A row locked FOR UPDATE carries its locker's transaction id in xmax; that session's backend_xid.
  const { rows } = await client.query<{ pid: number; application_name: string; client_addr: string | null; since: Date }>(
    `select a.pid, a.application_name, host(a.client_addr) as client_addr, a.backend_start as since
       from ${HOLDS_TABLE} h join pg_stat_activity a on a.backend_xid = h.xmax
      where h.project = $1 and h.stack = $2`,
    [project, stack],
  );
  const h = rows[0];
  return h && { pid: h.pid, text: `${h.application_name}${h.client_addr ? ` from ${h.client_addr}` : ""}, since ${h.since.toISOString()}` };
}

async function holdInPostgres(backendUrl: string, project: string, stack: string, command: string): Promise<StackHold> {
  const client = await connectAs(backendUrl, `cutover ${command} ${operator()}`);
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
  try {
    await createTables(client);
    await client.query(`insert into ${HOLDS_TABLE} (project, stack) values ($1, $2) on conflict do nothing`, [project, stack]);
    await client.query("begin");
    try {
      await client.query(`select 1 from ${HOLDS_TABLE} where project = $1 and stack = $2 for update nowait`, [project, stack]);
    } catch (e) {
      if ((e as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw e;
      await client.query("rollback");
      const holder = await rowHolder(client, project, stack);
      throw new StackBusyError(stack, holder?.text ?? "another operator (who released it just now)");
    }
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
  return {
    where: `PostgreSQL table ${HOLDS_TABLE}, row ${project}/${stack}`,
    lost: () => lost,
    release: async () => {
      released = true;
      if (!lost) await client.query("rollback").catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}

/** What `hold --break` found and did. */
export interface BrokenHold {
  /** The hold that was there (who, since when), or undefined when the stack was not held. */
  holder?: string;
  /** The breaks recorded for the stack, newest first (at most 10): when, whose hold, by whom. */
  recorded: { at: string; holder: string; brokenBy: string }[];
}

/**
 * Who holds the stack now, and, with `breakIt`, ends that hold: its PostgreSQL session terminated
 * (the command holding it stops before its update, or lets the engine's lock finish an update it
 * is in) or its hold file removed, the break recorded in the backend (the breaks' table, or a line
 * in the holds' directory) with who broke it. Undefined for a backend without holds.
 */
export async function inspectHold(
  backendUrl: string | undefined,
  project: string,
  stack: string,
  breakIt: boolean,
): Promise<BrokenHold | undefined> {
  if (!backendUrl) return undefined;
  if (/^postgres(ql)?:\/\//.test(backendUrl)) {
    const client = await connectAs(backendUrl, `cutover hold ${operator()}`);
    await client.connect();
    try {
      await createTables(client);
      const holder = await rowHolder(client, project, stack);
      if (holder && breakIt) {
        const { rows } = await client.query<{ ended: boolean }>("select pg_terminate_backend($1) as ended", [holder.pid]);
        if (!rows[0]?.ended) throw new Error(`the session of ${holder.text} (pid ${holder.pid}) could not be ended`);
        await client.query(`insert into ${BREAKS_TABLE} (project, stack, holder, broken_by) values ($1, $2, $3, $4)`, [
          project,
          stack,
          holder.text,
          operator(),
        ]);
      }
      const { rows } = await client.query<{ at: Date; holder: string; broken_by: string }>(
        `select at, holder, broken_by from ${BREAKS_TABLE} where project = $1 and stack = $2 order by at desc limit 10`,
        [project, stack],
      );
      return {
        ...(holder ? { holder: holder.text } : {}),
        recorded: rows.map((r) => ({ at: r.at.toISOString(), holder: r.holder, brokenBy: r.broken_by })),
      };
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  if (backendUrl.startsWith("file://")) {
    const holds = join(fileURLToPath(backendUrl), ".cutover-holds", project);
    const path = join(holds, `${stack}.json`);
    const breaks = join(holds, "breaks.jsonl");
    const held = existsSync(path) ? readHold(path) : undefined;
    const holder = existsSync(path)
      ? held
        ? `cutover ${held.command} ${held.operator}, since ${held.since}`
        : `a hold file ${path} that cannot be read`
      : undefined;
    if (holder && breakIt) {
      rmSync(path, { force: true });
      mkdirSync(holds, { recursive: true });
      appendFileSync(breaks, `${JSON.stringify({ at: new Date().toISOString(), stack, holder, brokenBy: operator() })}\n`);
    }
    const recorded = (existsSync(breaks) ? readFileSync(breaks, "utf8") : "")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { at: string; stack: string; holder: string; brokenBy: string })
      .filter((b) => b.stack === stack)
      .reverse()
      .slice(0, 10)
      .map(({ at, holder: h, brokenBy }) => ({ at, holder: h, brokenBy }));
    return { ...(holder ? { holder } : {}), recorded };
  }
  return undefined;
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
