/**
 * The one SSH helper: ssh2 with a pinned host key, connect timeout and retry, commands built from
 * argument vectors (quoted here and nowhere else), atomic file writes, and one connection per host
 * reused for a batch of operations.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Client, ClientChannel, ServerHostKeyAlgorithm, SFTPWrapper } from "ssh2";
import { CutoverError } from "../model/errors";

/** How to reach a host over SSH, without the secret: what the stack's state keeps. */
export interface SshEndpoint {
  /** How messages name the host: its role, such as legacy. */
  name: string;
  address: string;
  port: number;
  user: string;
  /** Pinned public host key, "ssh-ed25519 AAAA...". */
  hostKey: string;
}

/** An endpoint with the private key to log in with: what a connection needs. */
export interface HostTarget extends SshEndpoint {
  /** OpenSSH private key text (from a Pulumi secret). */
  privateKey: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface ExecOptions {
  stdin?: string;
  /** Resolve with the result instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  timeoutMs?: number;
}

/** A connected host: what every host effect receives. */
export interface HostSession {
  readonly target: HostTarget;
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Reads a file, or undefined when it does not exist. */
  readFile(path: string): Promise<string | undefined>;
  /** Writes a file atomically: a temporary file beside it, then rename. */
  writeFile(path: string, content: string, mode?: number): Promise<void>;
  close(): void;
  /** Whether the connection has ended (closed by either side): it runs nothing more. */
  readonly closed?: boolean;
}

export class HostKeyMismatchError extends CutoverError {
  constructor(
    readonly target: HostTarget,
    readonly presented: string | undefined,
  ) {
    super(
      presented
        ? `host key of ${target.name} (${target.address}:${target.port}) does not match the pinned key: it presented ${presented}, the inventory pins ${fingerprintOf(target.hostKey)}. If the host was rebuilt, check the new key with its administrator and update hostKeys.${target.name}; otherwise someone may be in the middle.`
        : `${target.name} (${target.address}:${target.port}) presented no host key that could be checked against the pinned ${fingerprintOf(target.hostKey)}`,
    );
  }
}

export class HostCommandError extends CutoverError {
  constructor(
    readonly target: HostTarget,
    readonly argv: string[],
    readonly result: ExecResult,
  ) {
    super(
      `on ${target.name} (${target.address}): ${argv.join(" ")} exited ${result.code}: ${`${result.stderr}\n${result.stdout}`.trim().split("\n").filter(Boolean).slice(-3).join(" | ")}`,
    );
  }
}

/** The host refused the SSH login (the key is not authorised for the user). */
export class HostLoginError extends CutoverError {}

export class HostUnreachableError extends CutoverError {
  constructor(
    readonly target: HostTarget,
    attempts: number,
    cause: Error,
  ) {
    super(
      `cannot reach ${target.name} at ${target.address}:${target.port} over SSH after ${attempts} attempt${attempts > 1 ? "s" : ""}: ${cause.message}`,
    );
  }
}

/** OpenSSH's fingerprint of a public key ("SHA256:..."), from "type base64" or the raw blob. */
export function fingerprintOf(key: string | Buffer): string {
  const blob = typeof key === "string" ? Buffer.from(key.trim().split(/\s+/)[1] ?? "", "base64") : key;
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** Quotes one argument for a POSIX shell: the only way an argument reaches a remote shell. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs several commands in one round trip: joined with && (stop at the first failure) or ; (run
 * all). Each argument is quoted by shellQuote, as for exec.
 */
export function execSequence(
  s: HostSession,
  commands: string[][],
  opts: ExecOptions & { continueOnError?: boolean } = {},
): Promise<ExecResult> {
  const line = commands.map((c) => c.map(shellQuote).join(" ")).join(opts.continueOnError ? " ; " : " && ");
  // Running all means the caller reads each command's output: the last one's exit code says nothing.
  return s.exec(["sh", "-c", line], opts.continueOnError ? { ...opts, allowFailure: true } : opts);
}

/** Splits the output of a sequence whose commands are separated by SECTION markers. */
export const SECTION = "--cutover-section--";
export const sectionMarker = ["echo", SECTION];
export const sections = (stdout: string) => stdout.split(`${SECTION}\n`);

/**
 * A command whose background children would otherwise keep the SSH channel open (postfix reload
 * leaves postsuper running; arping runs for seconds): run with no inherited stdio, positional
 * arguments only.
 */
export const detached = (script: string, ...args: string[]) => ["sh", "-c", `${script} </dev/null >/dev/null 2>&1`, "sh", ...args];

export interface ConnectOptions {
  /** Per attempt: TCP connect plus SSH handshake. */
  timeoutMs?: number;
  attempts?: number;
}

const RETRYABLE =
  /ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET|Timed out while waiting for handshake|Connection lost before handshake/;

export async function connect(target: HostTarget, opts: ConnectOptions = {}): Promise<HostSession> {
  const attempts = opts.attempts ?? 3;
  let last: Error | undefined;
  for (let i = 1; i <= attempts; i++) {
    try {
      return await connectOnce(target, opts.timeoutMs ?? 8000);
    } catch (e) {
      last = e as Error;
      if (e instanceof HostKeyMismatchError || !RETRYABLE.test(last.message) || i === attempts) break;
      await new Promise((r) => setTimeout(r, 250 * 2 ** (i - 1)));
    }
  }
  if (last instanceof HostKeyMismatchError || /authentication methods failed/.test(last!.message))
    throw last instanceof HostKeyMismatchError
      ? last
      : new HostLoginError(
          `SSH login to ${target.name} (${target.user}@${target.address}) was refused: check the private key and that its public key is in the user's authorized_keys`,
        );
  throw new HostUnreachableError(target, attempts, last!);
}

/** The SSH host-key algorithms that present a key of the pinned key's type, best first. Pure. */
export function hostKeyAlgorithms(pinned: string): ServerHostKeyAlgorithm[] {
  const type = pinned.trim().split(/\s+/)[0];
  if (type === "ssh-rsa") return ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"];
  if (type === "ssh-ed25519" || /^ecdsa-sha2-nistp(256|384|521)$/.test(type)) return [type as ServerHostKeyAlgorithm];
  throw new CutoverError(`the pinned host key's type ${JSON.stringify(type)} is none of ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521`);
}

function connectOnce(target: HostTarget, timeoutMs: number): Promise<HostSession> {
  // Loaded here, not at the top: dynamic providers serialize what a module captures.
  const { Client: SshClient } = require("ssh2") as typeof import("ssh2");
  const pinned = Buffer.from(target.hostKey.trim().split(/\s+/)[1] ?? "", "base64");
  return new Promise((resolve, reject) => {
    const client = new SshClient();
    let presented: string | undefined;
    let samePresented = false;
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      client.end();
      reject(presented && !samePresented ? new HostKeyMismatchError(target, presented) : e);
    };
    client.on("ready", () => {
      settled = true;
      resolve(new Session(client, target));
    });
    client.on("error", fail);
    client.connect({
      host: target.address,
      port: target.port,
      username: target.user,
      privateKey: target.privateKey,
      readyTimeout: timeoutMs,
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
      // Negotiate the pinned key's algorithm: a server offering several host keys shows the pinned one.
      algorithms: { serverHostKey: hostKeyAlgorithms(target.hostKey) },
      hostVerifier: (key: Buffer) => {
        presented = fingerprintOf(key);
        samePresented = key.equals(pinned);
        return samePresented;
      },
    });
  });
}

/**
 * Commands one connection runs at once, at most. Debian's sshd allows 10 sessions (channels) per
 * connection (MaxSessions) and refuses the 11th ("open failed"), but it frees a session a moment
 * after the client saw it close: refilling 7 or 8 at a time as each command ended, 10 and 34 of 200
 * channel opens were refused on the lab's stock sshd; at 6 or fewer none. 5 leaves room for an
 * SFTP channel. A host that allows fewer is met by the retry in exec.
 */
const MAX_CHANNELS = 5;

/** How long exec keeps retrying a channel the host refused (its MaxSessions), at most. */
const REFUSED_CHANNEL_RETRY_MS = 10_000;

/** The server refused to open a channel: ssh2's error for SSH_MSG_CHANNEL_OPEN_FAILURE (sshd's MaxSessions says "open failed"). */
const channelRefused = (e: unknown) => /Channel open failure/.test((e as Error | undefined)?.message ?? "");

class Session implements HostSession {
  private sftp: Promise<SFTPWrapper> | undefined;
  private running = 0;
  /** Lowered to what the host took when it refused a channel. */
  private limit = MAX_CHANNELS;
  private readonly queued: (() => void)[] = [];
  closed = false;
  constructor(
    private readonly client: Client,
    readonly target: HostTarget,
  ) {
    client.on("close", () => (this.closed = true));
  }

  /**
   * Runs argv, at most `limit` at once on this connection. A channel the host refuses is asked for
   * again once another command ends (or after 50 ms), and the connection then runs no more at once
   * than the host took; for REFUSED_CHANNEL_RETRY_MS at most.
   */
  async exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const until = Date.now() + REFUSED_CHANNEL_RETRY_MS;
    for (;;) {
      if (this.running >= this.limit) await new Promise<void>((go) => this.queued.push(go));
      this.running++;
      try {
        return await this.execNow(argv, opts);
      } catch (e) {
        if (!channelRefused(e) || Date.now() > until) throw e;
        this.limit = Math.max(1, this.running - 1);
      } finally {
        this.running--;
        this.queued.shift()?.();
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private execNow(argv: string[], opts: ExecOptions): Promise<ExecResult> {
    const command = argv.map(shellQuote).join(" ");
    return new Promise((resolve, reject) => {
      const cannot = (err: Error) =>
        reject(new Error(`on ${this.target.name} (${this.target.address}): cannot run ${argv[0]}: ${err.message}`));
      try {
        this.client.exec(command, (err: Error | undefined, channel: ClientChannel) => {
          if (err) return cannot(err);
          const out: Buffer[] = [];
          const errOut: Buffer[] = [];
          const timer = opts.timeoutMs
            ? setTimeout(() => {
                channel.close();
                reject(new Error(`on ${this.target.name}: ${argv.join(" ")} did not finish in ${opts.timeoutMs} ms`));
              }, opts.timeoutMs)
            : undefined;
          channel.on("data", (d: Buffer) => out.push(d));
          channel.stderr.on("data", (d: Buffer) => errOut.push(d));
          channel.on("close", (code: number | null) => {
            if (timer) clearTimeout(timer);
            const result = {
              stdout: Buffer.concat(out).toString("utf8"),
              stderr: Buffer.concat(errOut).toString("utf8"),
              code: code ?? 255,
            };
            if (code === null || code === undefined)
              return reject(
                new Error(`on ${this.target.name} (${this.target.address}): the connection closed while ${argv[0]} was running`),
              );
            if (result.code !== 0 && !opts.allowFailure) reject(new HostCommandError(this.target, argv, result));
            else resolve(result);
          });
          channel.end(opts.stdin ?? "");
        });
      } catch (e) {
        cannot(e as Error);
      }
    });
  }

  private sftpSession(): Promise<SFTPWrapper> {
    this.sftp ??= new Promise((resolve, reject) => this.client.sftp((err, sftp) => (err ? reject(err) : resolve(sftp))));
    return this.sftp;
  }

  async readFile(path: string): Promise<string | undefined> {
    const sftp = await this.sftpSession();
    return new Promise((resolve, reject) =>
      sftp.readFile(path, (err: (Error & { code?: number }) | null | undefined, data: Buffer) => {
        if (err)
          return err.code === 2 ? resolve(undefined) : reject(new Error(`on ${this.target.name}: cannot read ${path}: ${err.message}`));
        resolve(data.toString("utf8"));
      }),
    );
  }

  async writeFile(path: string, content: string, mode = 0o644): Promise<void> {
    const sftp = await this.sftpSession();
    const tmp = `${path}.cutover-${randomBytes(6).toString("hex")}`;
    await new Promise<void>((resolve, reject) =>
      sftp.writeFile(tmp, content, { mode }, (err) =>
        err ? reject(new Error(`on ${this.target.name}: cannot write ${tmp}: ${err.message}`)) : resolve(),
      ),
    );
    await new Promise<void>((resolve, reject) =>
      // rename(2) on the host: readers see the old file or the new one, never half of either.
      sftp.ext_openssh_rename(tmp, path, (err) =>
        err ? reject(new Error(`on ${this.target.name}: cannot rename ${tmp} to ${path}: ${err.message}`)) : resolve(),
      ),
    );
  }

  close(): void {
    this.client.end();
  }
}

/** One connection per host for a batch of operations; close them all at the end. */
export class SessionPool {
  private readonly sessions = new Map<string, Promise<HostSession>>();
  constructor(private readonly opts: ConnectOptions = {}) {}

  /** The pool's connection to target (by user, address, port and pinned key), made again once it has closed. */
  session(target: HostTarget): Promise<HostSession> {
    const key = `${target.user}@${target.address}:${target.port} ${target.hostKey}`;
    let s = this.sessions.get(key);
    if (!s) {
      const made = connect(target, this.opts);
      this.sessions.set(key, made);
      made.catch(() => this.sessions.get(key) === made && this.sessions.delete(key));
      s = made;
    }
    const pending = s;
    return pending.then((session) => {
      if (!session.closed) return session;
      if (this.sessions.get(key) === pending) this.sessions.delete(key);
      return this.session(target);
    });
  }

  async closeAll(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) (await s.catch(() => undefined))?.close();
  }
}

/** Connects, runs fn with the session, and always disconnects. */
export async function withSession<T>(target: HostTarget, fn: (s: HostSession) => Promise<T>, opts?: ConnectOptions): Promise<T> {
  const s = await connect(target, opts);
  try {
    return await fn(s);
  } finally {
    s.close();
  }
}
