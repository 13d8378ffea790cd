/**
 * One module over the Automation API's LocalWorkspace: select or create a stack of this project,
 * set its config, and run up / preview / refresh / destroy / history with structured results
 * (engine events, never scraped text). Progress goes to stderr. The stack's backend is the only
 * store: whatever the user configured (PULUMI_BACKEND_URL or `pulumi login`), or the project's
 * local file backend for the rehearsal and the tests.
 */

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { basename, join } from "node:path";
import { stripVTControlCharacters } from "node:util";
import {
  CommandError,
  ConcurrentUpdateError,
  type ConfigMap,
  type EngineEvent,
  LocalWorkspace,
  type OpType,
  PulumiCommand,
  type Stack,
  type UpdateSummary,
} from "@pulumi/pulumi/automation";
import { parseDocument } from "yaml";
import { CONFIG, type ConfigKey } from "../model/config-keys";
import { InputError } from "../model/errors";
import { PROJECT_DIR, STACKS_DIR } from "../model/stack-file";
import { run } from "../remote/local";
import { type Engine, engineEnv, type Progress } from "./engine";
import { EngineError, engineLockHolder, failedOnPassphrase, StackBusyError, WrongPassphraseError } from "./errors";
import { type BrokenHold, holdStack, inspectHold, type StackHold } from "./hold";
import { changedProperties, type PropertyChange, propertyChanges } from "./property-changes";

/**
 * The highest engine log level that holds no secret. At 7, `pulumi up` logs the inputs of every
 * resource it leaves unchanged ("Planner decided not to update ... inputs=map[...]"), secrets in
 * plaintext (found with an up --refresh of the pilot stack); at 9 every marshalled property.
 */
export const SAFE_LOG_LEVEL = 6;

/** The project's own local backend: for the rehearsal and the tests, git-ignored. */
export const LOCAL_BACKEND_DIR = join(PROJECT_DIR, ".state");
export const localBackendUrl = () => {
  mkdirSync(LOCAL_BACKEND_DIR, { recursive: true });
  return `file://${LOCAL_BACKEND_DIR}`;
};

export interface StackOptions {
  engine: Engine;
  /** Backend URL; default: what the user configured, else the project's local backend. */
  backendUrl?: string;
  /** Passphrase for the passphrase secrets provider; default PULUMI_CONFIG_PASSPHRASE(_FILE). */
  passphrase?: string;
  /** Where `passphrase` comes from, for the message when it is wrong. */
  passphraseSource?: string;
  /** The engine downloads no plugin (the lab and the tests, where nothing can be downloaded). */
  offline?: boolean;
  progress?: Progress;
}

/** What the stack's state holds, as read by MigrationStack.state(). */
export interface StackState {
  /** URNs with an operation the engine began and never finished (its process died mid-update). */
  pendingOperations: string[];
  /** The outputs of every resource of this type, secrets revealed. */
  outputsOf(type: string): Record<string, unknown>[];
}

/** One resource step the engine planned or took. */
export interface Step {
  op: OpType;
  urn: string;
  type: string;
  name: string;
  /** Properties that differ, when the provider says (dynamic providers do not). */
  diffs: string[];
  /** What changed, property by property, worked out from the event's old and new values (see property-changes.ts). */
  changes: PropertyChange[];
  /** The resource's inputs after the step, for a delete before it (secrets masked by the engine). */
  inputs: Record<string, unknown>;
  /** Refresh steps: whether what the provider read differs from the state. */
  refreshChanged?: boolean;
}

export interface OperationResult {
  steps: Step[];
  /** Count per operation, as the engine summarised it. */
  changes: Record<string, number>;
  seconds: number;
  /** Warnings and errors the engine reported. */
  diagnostics: string[];
  /** The engine's own log (stderr), when asked for with verboseLog. */
  log?: string;
  /** The stack's outputs as the program registered them in this run (a preview's too; secrets masked). */
  outputs?: Record<string, unknown>;
}

/**
 * The lines of the engine's stderr that say what went wrong: each "error:" line with the indented
 * lines after it, and the program's and providers' error diagnostics. Pure.
 */
export function engineErrorLines(stderr: string, diagnostics: string[] = []): string[] {
  const lines = stripVTControlCharacters(stderr).split("\n");
  const out: string[] = [];
  let inError = false;
  for (const line of lines) {
    if (/^\s*error:/i.test(line)) inError = true;
    else if (!/^\s+\S/.test(line)) inError = false;
    if (inError && line.trim()) out.push(line.trim());
  }
  const extra = diagnostics.filter((d) => !out.some((l) => l.includes(d.split("\n")[0])));
  return [...new Set([...extra.flatMap((d) => d.split("\n").filter(Boolean)), ...out])].slice(0, 40);
}

/** The engine's stderr from a failed command (the SDK's typings keep the field private; it is public at run time). */
const resultOf = (e: CommandError) => (e as unknown as { commandResult?: { stderr?: string; code?: number } }).commandResult ?? {};

/** What to show of a failed engine command: its error lines, else its last lines, else how it ended. */
function failureLines(e: CommandError, diagnostics: string[]): string[] {
  const { stderr = "", code } = resultOf(e);
  const lines = engineErrorLines(stderr, diagnostics);
  if (lines.length) return lines;
  const last = stripVTControlCharacters(stderr)
    .split("\n")
    .filter((l) => l.trim())
    .slice(-5);
  return last.length ? last : [`the engine stopped with exit code ${code ?? "unknown"} and printed no error (was it killed?)`];
}

const nameOf = (urn: string) => urn.slice(urn.lastIndexOf("::") + 2);

/** Whether a run's refresh found a resource changed on its host since the state recorded it. */
export const foundChanged = (r: OperationResult) => r.steps.some((s) => s.op === "refresh" && s.refreshChanged);

/** Steps that change something; "same" and reads are not changes. */
export const changedSteps = (r: OperationResult) => r.steps.filter((s) => !["same", "read", "refresh"].includes(s.op));

export class MigrationStack {
  private constructor(
    readonly stack: Stack,
    readonly engine: Engine,
    private readonly progress: Progress,
    private readonly envVars: Record<string, string>,
    /** The backend the stack lives on: the explicit one, or the one `pulumi login` stored. */
    readonly backendUrl: string | undefined,
    private readonly passphraseSource: string,
  ) {}

  /** An engine command's failure on a wrong passphrase becomes one clear line (exit 2); others pass. */
  private async secretsCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (failedOnPassphrase(e)) throw new WrongPassphraseError(this.name, this.passphraseSource);
      throw e;
    }
  }

  get name() {
    return this.stack.name;
  }

  static async open(name: string, opts: StackOptions): Promise<MigrationStack> {
    const progress = opts.progress ?? (() => {});
    const backend = opts.backendUrl ?? process.env.PULUMI_BACKEND_URL;
    if (!backend && !hasLogin()) throw new NoBackendError(name);
    const envVars = engineEnv(opts.engine, {
      ...(backend ? { PULUMI_BACKEND_URL: backend } : {}),
      // Only where nothing can be downloaded (the lab, the tests) are missing plugins an error.
      ...(opts.offline ? { PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true" } : {}),
      ...(opts.passphrase !== undefined ? { PULUMI_CONFIG_PASSPHRASE: opts.passphrase } : {}),
    });
    const pulumiCommand = await PulumiCommand.get({ root: join(opts.engine.binDir, ".."), skipVersionCheck: false });
    const stack = await LocalWorkspace.createOrSelectStack({ stackName: name, workDir: PROJECT_DIR }, { envVars, pulumiCommand });
    progress(`engine: stack ${name} on ${backend ? withoutPassword(backend) : "the logged-in backend"}`);
    const source =
      opts.passphraseSource ??
      (opts.passphrase !== undefined ? "the command's own setting" : "PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE");
    return new MigrationStack(stack, opts.engine, progress, envVars, backend ?? loggedInBackend(), source);
  }

  setConfig(config: ConfigMap, path = false): Promise<void> {
    return this.stack.setAllConfig(config, path);
  }

  removeConfig(key: ConfigKey): Promise<void> {
    return this.stack.removeConfig(key);
  }

  /**
   * Sets secrets through the CLI's standard input (`pulumi config set --secret --raw`, value read
   * from stdin): never on a command line, which every user sees in ps, and never in an error text.
   * `path`: the keys are paths into an object setting (gatewayTls.new), as pulumi config set --path takes them.
   */
  async setSecrets(secrets: Record<string, string>, path = false): Promise<void> {
    const env = { ...process.env, ...this.envVars };
    for (const [key, value] of Object.entries(secrets)) {
      const argv = [
        "pulumi",
        "config",
        "set",
        "--secret",
        "--raw",
        ...(path ? ["--path"] : []),
        key,
        "--stack",
        this.name,
        "--cwd",
        PROJECT_DIR,
      ];
      const r = await run(argv, { env, input: value, allowFailure: true });
      if (r.code !== 0 && failedOnPassphrase({ commandResult: r })) throw new WrongPassphraseError(this.name, this.passphraseSource);
      if (r.code !== 0) {
        const said = `${r.stderr}\n${r.stdout}`.split(value).join("[secret]").trim().split("\n").filter(Boolean).slice(-3);
        throw new EngineError(`setting of the secret ${key} (exit ${r.code})`, this.name, said);
      }
    }
  }

  async setPhase(phase: number): Promise<void> {
    await this.stack.setConfig(CONFIG.phase, { value: String(phase) });
  }

  /** `stream`: print each changing step as the engine reports it (an update's progress; a preview is summarised after). */
  private collector(stream = true) {
    const steps: Step[] = [];
    const errors: string[] = [];
    const diagnostics: string[] = [];
    let changes: Record<string, number> = {};
    let outputs: Record<string, unknown> | undefined;
    const onEvent = (e: EngineEvent) => {
      const pre = e.resourcePreEvent?.metadata;
      if (pre && pre.type !== "pulumi:pulumi:Stack") {
        const step = {
          op: pre.op,
          urn: pre.urn,
          type: pre.type,
          name: nameOf(pre.urn),
          diffs: pre.diffs ?? [],
          changes: pre.op === "update" ? propertyChanges(pre.old?.inputs, pre.new?.inputs) : [],
          inputs: (pre.new?.inputs ?? pre.old?.inputs ?? {}) as Record<string, unknown>,
        };
        steps.push(step);
        if (stream && !["same", "read", "refresh"].includes(pre.op))
          this.progress(`  ${pre.op.padEnd(8)} ${step.name}${changedProperties(step)}`);
      }
      // A refresh found drift when its outputs event says update or delete (or the digest it read differs).
      const out = e.resOutputsEvent?.metadata;
      if (out?.type === "pulumi:pulumi:Stack" && out.new?.outputs) outputs = out.new.outputs;
      // A refresh that read other outputs but the same inputs is "same" to the engine: the outputs still tell.
      if (out && out.type !== "pulumi:pulumi:Stack") {
        // The refresh's own outputs event (in `preview --refresh` the update's follows it, for the step after).
        const step = [...steps].reverse().find((x) => x.urn === out.urn);
        const read = propertyChanges(out.old?.outputs, out.new?.outputs);
        if (
          step?.op === "refresh" &&
          (["update", "delete"].includes(out.op) || read.length || refreshDiffers(out.old?.outputs, out.new?.outputs))
        ) {
          step.refreshChanged = true;
          step.changes = read;
          if (stream) this.progress(`  refresh  ${step.name} (changed on the host since the last update)${changedProperties(step)}`);
        }
      }
      const diag = e.diagnosticEvent;
      if (diag && (diag.severity === "warning" || diag.severity === "error")) {
        const text = stripVTControlCharacters(diag.message).trim();
        diagnostics.push(text);
        if (diag.severity === "error") errors.push(text);
        this.progress(`  ${diag.severity}: ${text.split("\n")[0]}`);
      }
      if (e.summaryEvent)
        changes = Object.fromEntries(Object.entries(e.summaryEvent.resourceChanges ?? {}).map(([k, v]) => [k, Number(v)]));
    };
    return {
      onEvent,
      diagnostics: () => errors,
      finish: (started: number): OperationResult => ({
        steps,
        changes,
        diagnostics,
        seconds: (Date.now() - started) / 1000,
        ...(outputs ? { outputs } : {}),
      }),
    };
  }

  /**
   * The stack as the Automation API's up, refresh and destroy see it, minus the reads they make
   * after the engine is done: `pulumi stack output` twice (after an up) and `pulumi stack history`,
   * about 1 s on this project's 2 cores, for a summary and outputs the engine's events already gave
   * (the collector). A view of the same stack object: everything else is the stack's own.
   */
  private withoutAfterReads(): Stack {
    return Object.create(this.stack, {
      outputs: { value: async () => ({}) },
      info: { value: async () => undefined },
    }) as Stack;
  }

  /** Runs an engine operation; its failure becomes a StackBusyError or an EngineError with the engine's own lines. */
  private async engineCall<T>(operation: string, c: { diagnostics(): string[] }, fn: () => Promise<T>): Promise<T> {
    try {
      return await this.secretsCall(fn);
    } catch (e) {
      if (e instanceof ConcurrentUpdateError) throw new StackBusyError(this.name, engineLockHolder(e.message));
      if (e instanceof CommandError) throw new EngineError(operation, this.name, failureLines(e, c.diagnostics()));
      throw e;
    }
  }

  /**
   * `refresh` reads every resource from the live world first (`pulumi up --refresh`); verboseLog
   * runs the engine at SAFE_LOG_LEVEL and returns its log (see refresh).
   */
  async up(opts: { message?: string; expectNoChanges?: boolean; refresh?: boolean; verboseLog?: boolean } = {}): Promise<OperationResult> {
    const c = this.collector();
    const started = Date.now();
    this.progress(`engine: up ${this.name}${opts.refresh ? " (refreshing from the live hosts first)" : ""}`);
    const r = await this.engineCall("up", c, () =>
      this.withoutAfterReads().up({
        onEvent: c.onEvent,
        color: "never",
        ...(opts.message ? { message: opts.message } : {}),
        ...(opts.expectNoChanges ? { expectNoChanges: true } : {}),
        ...(opts.refresh ? { refresh: true } : {}),
        ...(opts.verboseLog ? { logToStdErr: true, logVerbosity: SAFE_LOG_LEVEL } : {}),
      }),
    );
    return { ...c.finish(started), ...(opts.verboseLog ? { log: r.stderr } : {}) };
  }

  /**
   * `phase` previews the stack at another phase, `config` with other settings: both from a private
   * copy of its config file (the engine's --config-file), so the stack file is never changed, even
   * by a kill.
   */
  async preview(
    opts: { expectNoChanges?: boolean; refresh?: boolean; phase?: number; config?: Partial<Record<ConfigKey, unknown>> } = {},
  ): Promise<OperationResult> {
    // Every caller prints the preview's steps once it is done (describeSteps): not twice.
    const c = this.collector(false);
    const started = Date.now();
    this.progress(`engine: preview ${this.name}${opts.phase !== undefined ? ` at phase ${opts.phase}` : ""}`);
    const settings = { ...opts.config, ...(opts.phase !== undefined ? { [CONFIG.phase]: opts.phase } : {}) };
    const copy = Object.keys(settings).length ? configCopy(this.stackFile, settings) : undefined;
    try {
      await this.engineCall("preview", c, () =>
        this.stack.preview({
          onEvent: c.onEvent,
          color: "never",
          diff: true,
          ...(opts.expectNoChanges ? { expectNoChanges: true } : {}),
          ...(opts.refresh ? { refresh: true } : {}),
          ...(copy ? { configFile: copy.path } : {}),
        }),
      );
    } finally {
      copy?.remove();
    }
    return c.finish(started);
  }

  /** The stack's config file, stacks/Pulumi.<stack>.yaml. */
  get stackFile(): string {
    return join(STACKS_DIR, `Pulumi.${this.name}.yaml`);
  }

  /** Who holds the stack now and the breaks recorded; with `breakIt`, ends the hold (see hold.ts, inspectHold). */
  async inspectHold(breakIt: boolean): Promise<BrokenHold | undefined> {
    const project = (await this.stack.workspace.projectSettings()).name;
    return inspectHold(this.backendUrl, project, this.name, breakIt);
  }

  /** Takes the stack for a whole command (see hold.ts): StackBusyError when another operator holds it. */
  async hold(command: string): Promise<StackHold | undefined> {
    const project = (await this.stack.workspace.projectSettings()).name;
    const hold = await holdStack(this.backendUrl, project, this.name, command);
    this.progress(
      hold ? `holding ${this.name} for ${command} (${hold.where})` : `no hold on this backend: the engine's lock alone guards the up`,
    );
    return hold;
  }

  /**
   * verboseLog runs the engine at SAFE_LOG_LEVEL and returns its log. Higher levels are not offered: there the
   * engine logs every property it marshals for an RPC, secrets included, in plaintext.
   */
  async refresh(opts: { previewOnly?: boolean; expectNoChanges?: boolean; verboseLog?: boolean } = {}): Promise<OperationResult> {
    const c = this.collector();
    const started = Date.now();
    this.progress(`engine: refresh ${this.name}${opts.previewOnly ? " (preview)" : ""}`);
    const o = {
      onEvent: c.onEvent,
      color: "never" as const,
      ...(opts.expectNoChanges ? { expectNoChanges: true } : {}),
      ...(opts.verboseLog ? { logToStdErr: true, logVerbosity: SAFE_LOG_LEVEL } : {}),
    };
    const r = await this.engineCall<{ stderr: string }>("refresh", c, () =>
      opts.previewOnly ? this.stack.previewRefresh(o) : this.withoutAfterReads().refresh(o),
    );
    return { ...c.finish(started), ...(opts.verboseLog ? { log: r.stderr } : {}) };
  }

  async destroy(): Promise<OperationResult> {
    const c = this.collector();
    const started = Date.now();
    this.progress(`engine: destroy ${this.name}`);
    await this.engineCall("destroy", c, () => this.withoutAfterReads().destroy({ onEvent: c.onEvent, color: "never" }));
    return c.finish(started);
  }

  /**
   * Every update, newest first, with the configuration each ran with (the CLI alone lists ten).
   * Its secrets stay encrypted: what reads the history (phase, inventory, mailbox digest) is plain
   * text, and decrypting costs a CLI process the passphrase's key derivation (PBKDF2, 1,000,000
   * rounds: 0.19 s of CPU on this machine).
   */
  async history(): Promise<UpdateSummary[]> {
    const all: UpdateSummary[] = [];
    for (let page = 1; ; page++) {
      const batch = await this.stack.history(100, page, false);
      all.push(...batch);
      if (batch.length < 100) return all;
    }
  }

  /** The checkpoint as `pulumi stack export` gives it: secrets stay encrypted. */
  async exportCheckpoint(): Promise<string> {
    const env = { ...process.env, ...this.envVars };
    return (await run(["pulumi", "stack", "export", "--stack", this.name, "--cwd", PROJECT_DIR], { env })).stdout;
  }

  /** Sets (or with undefined, removes) an environment variable of the engine and its plugins. */
  async setEngineEnv(name: string, value: string | undefined): Promise<void> {
    const env = this.stack.workspace.envVars;
    if (value === undefined) delete env[name];
    else env[name] = value;
  }

  /** The stack's tags (the backend keeps them: the guards' record). */
  tags(): Promise<Record<string, string>> {
    return this.stack.listTags();
  }

  /** The tags of another stack of the project on the same backend; none when it does not exist there. */
  async tagsOf(stack: string): Promise<Record<string, string>> {
    try {
      return await this.stack.workspace.listTags(stack);
    } catch {
      return {};
    }
  }

  setTag(key: string, value: string): Promise<void> {
    return this.stack.setTag(key, value);
  }

  async removeTag(key: string): Promise<void> {
    if (key in (await this.tags())) await this.stack.removeTag(key);
  }

  /** The URNs of operations the engine began and never finished (its process died mid-update). */
  async pendingOperations(): Promise<string[]> {
    return (await this.state()).pendingOperations;
  }

  /** The outputs of one resource of the state, secrets decrypted in memory (never printed). */
  async resourceOutputs(type: string): Promise<Record<string, unknown> | undefined> {
    return (await this.resourcesOutputs(type))[0];
  }

  /** The outputs of every resource of this type in the stack's state, secrets revealed. */
  async resourcesOutputs(type: string): Promise<Record<string, unknown>[]> {
    return (await this.state()).outputsOf(type);
  }

  /**
   * The stack's state, read once (`pulumi stack export --show-secrets`, about 0.3 s): its pending
   * operations and its resources' outputs, secrets decrypted in memory (never printed): the mailbox
   * archive, which the large-change guard and the rollback read, is one.
   */
  async state(): Promise<StackState> {
    const exported = await this.secretsCall(() => this.stack.exportStack());
    const deployment = exported.deployment as {
      resources?: { type: string; outputs?: Record<string, unknown> }[];
      pending_operations?: { resource?: { urn?: string } }[];
    };
    // Secrets come back as {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", plaintext: "<json>"}.
    const reveal = (v: unknown): unknown =>
      v && typeof v === "object" && "plaintext" in (v as object) ? JSON.parse((v as { plaintext: string }).plaintext) : v;
    const resources = deployment.resources ?? [];
    return {
      pendingOperations: (deployment.pending_operations ?? []).map((p) => p.resource?.urn ?? "unknown"),
      outputsOf: (type) =>
        resources
          .filter((r) => r.type === type && r.outputs)
          .map((r) => Object.fromEntries(Object.entries(r.outputs!).map(([k, v]) => [k, reveal(v)]))),
    };
  }

  /** The stack's config as the engine reads it, secrets decrypted (for the verification's SSH key). */
  async config(): Promise<ConfigMap> {
    return this.secretsCall(() => this.stack.getAllConfig());
  }

  /**
   * Clears the lock a killed engine left on the stack. Only for when no other update runs: the
   * commands call it after an interrupted update of their own, and say so.
   */
  async cancel(): Promise<void> {
    await this.stack.cancel();
  }

  /** Removes the stack from the backend and its config file (for throw-away stacks). */
  async remove(): Promise<void> {
    await this.stack.workspace.removeStack(this.name, { force: true });
    rmSync(join(STACKS_DIR, `Pulumi.${this.name}.yaml`), { force: true });
  }
}

/**
 * Whether a refresh read something other than the state: by content digest where the resource has
 * one (this project's host effects: record order and the like do not count), else by value.
 */
function refreshDiffers(old: Record<string, unknown> | undefined, now: Record<string, unknown> | undefined): boolean {
  if (old && now && typeof old.digest === "string" && typeof now.digest === "string") return old.digest !== now.digest;
  return JSON.stringify(old ?? {}) !== JSON.stringify(now ?? {});
}

/** A private 0600 copy of a stack file with some settings changed: what a preview with them reads. */
function configCopy(stackFile: string, settings: Record<string, unknown>): { path: string; remove(): void } {
  const doc = parseDocument(readFileSync(stackFile, "utf8"));
  for (const [key, value] of Object.entries(settings)) doc.setIn(["config", key], value);
  const dir = mkdtempSync(join(tmpdir(), "cutover-preview-"));
  const path = join(dir, basename(stackFile));
  writeFileSync(path, doc.toString(), { mode: 0o600 });
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * No backend was chosen: state must not silently land in a local directory nobody else sees,
 * where the team's guards and history would not be shared.
 */
export class NoBackendError extends InputError {
  constructor(stack: string) {
    super(
      `stack ${stack}: no state backend is chosen, so its state, guards and history would be seen by no one else. Choose one: pulumi login (Pulumi Cloud), or PULUMI_BACKEND_URL=postgres://user:password@host/db, s3://bucket or file:///shared/dir (see docs/production.md, "A team sharing a stack")`,
    );
  }
}

/** A backend URL fit to print: a password in it is masked. Pure. */
export function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = "****";
    return u.toString();
  } catch {
    return url;
  }
}

/** The backend `pulumi login` stored for this user, if any. */
function loggedInBackend(): string | undefined {
  const file = join(process.env.PULUMI_HOME ?? join(homedir(), ".pulumi"), "credentials.json");
  try {
    return JSON.parse(readFileSync(file, "utf8")).current || undefined;
  } catch {
    return undefined;
  }
}

const hasLogin = () => loggedInBackend() !== undefined;
