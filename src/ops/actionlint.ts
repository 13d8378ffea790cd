/**
 * actionlint (a Go module) checks the GitHub workflows, so that a broken workflow cannot land. Built
 * here from the Go module proxy at a pinned version, once, into the project's cache.
 */
import { existsSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { PROJECT_DIR } from "../model/stack-file";
import { run } from "../remote/local";
import type { Progress } from "./engine";

export const ACTIONLINT_VERSION = "v1.7.12";
const CACHE = join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "cutover", "actionlint", ACTIONLINT_VERSION);

/** The actionlint binary: cached, or built with `go install` (about 30 s with an empty Go cache). */
export async function obtainActionlint(progress: Progress = () => {}): Promise<string> {
  const bin = join(CACHE, "actionlint");
  if (existsSync(bin)) return bin;
  mkdirSync(CACHE, { recursive: true });
  progress(`actionlint: building ${ACTIONLINT_VERSION} with go install`);
  const started = Date.now();
  await run(["go", "install", `github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}`], {
    env: { ...process.env, GOBIN: CACHE, GOFLAGS: "-mod=mod", CGO_ENABLED: "0" },
    timeoutMs: 600_000,
  });
  progress(`actionlint: built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return bin;
}

/** Runs actionlint on files; returns its findings (empty: clean). */
export async function lintWorkflows(files: string[]): Promise<{ ok: boolean; output: string }> {
  const bin = await obtainActionlint();
  // The project's config (the self-hosted runner's label), whichever copy of a workflow is checked.
  const config = join(PROJECT_DIR, ".github", "actionlint.yaml");
  const r = await run([bin, "-no-color", "-shellcheck=", "-pyflakes=", "-config-file", config, ...files], { allowFailure: true });
  return { ok: r.code === 0, output: `${r.stdout}${r.stderr}`.trim() };
}

/** A workflow step as far as the security rules read it. */
interface WorkflowStep {
  name?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
  with?: Record<string, string>;
}

const SECRET = /\$\{\{\s*secrets\./;

/**
 * What in a workflow hands the stack's secrets to more than the step that needs them (the SSH key
 * to every gateway is behind the passphrase), one line each: an action pinned by a tag or branch
 * instead of a full commit SHA with its version in a comment, a secret in the workflow's or a
 * job's env or in any step but the one named `secretStep`, a job without an environment or that
 * runs from any branch, an `npm ci` that runs install scripts, an artifact other than the report.
 * `text` is the workflow file; the rules read its YAML and, for the version comments, its lines. Pure.
 */
export function workflowSecurityProblems(
  text: string,
  workflow: {
    env?: Record<string, string>;
    jobs: Record<string, { env?: Record<string, string>; environment?: unknown; if?: string; steps: WorkflowStep[] }>;
  },
  secretStep: string,
): string[] {
  const problems: string[] = [];
  const secretsIn = (env: Record<string, string> | undefined) => Object.keys(env ?? {}).filter((k) => SECRET.test(env![k]));
  for (const k of secretsIn(workflow.env)) problems.push(`the workflow's env holds the secret ${k}: give it to the one step that needs it`);
  for (const [id, job] of Object.entries(workflow.jobs)) {
    for (const k of secretsIn(job.env))
      problems.push(`job ${id}: its env holds the secret ${k}, which every step and action sees: give it to the step "${secretStep}" only`);
    if (!job.environment) problems.push(`job ${id}: no environment: its secrets and OIDC trust are not tied to one (restricted to main)`);
    if (!/github\.ref\s*==\s*'refs\/heads\/main'/.test(job.if ?? ""))
      problems.push(`job ${id}: runs from any branch (workflow_dispatch): add if: github.ref == 'refs/heads/main'`);
    job.steps.forEach((step, i) => {
      const at = `job ${id}, step ${step.name ?? step.uses ?? step.run?.split("\n")[0] ?? i + 1}`;
      if (step.uses && !step.uses.startsWith("./")) {
        const [action, ref = ""] = step.uses.split("@");
        if (!/^[0-9a-f]{40}$/.test(ref))
          problems.push(`${at}: ${step.uses} is pinned by a tag or branch, which can be moved: pin the full commit SHA`);
        else if (!new RegExp(`uses:\\s*${action.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}@${ref}\\s+#\\s*v\\d`).test(text))
          problems.push(`${at}: ${step.uses} has no version comment (# vX.Y.Z) beside its SHA`);
      }
      const secrets = [...secretsIn(step.env), ...Object.keys(step.with ?? {}).filter((k) => SECRET.test(step.with![k]))];
      if (secrets.length && step.name !== secretStep)
        problems.push(`${at}: gets the secrets ${secrets.join(", ")}: only the step "${secretStep}" may`);
      if (step.run && /\bnpm (ci|install)\b/.test(step.run) && !/--ignore-scripts/.test(step.run))
        problems.push(`${at}: npm installs with every package's install scripts, in the job that gets the secrets: add --ignore-scripts`);
      if (step.uses?.startsWith("actions/upload-artifact@") && step.with?.path !== "drift.json")
        problems.push(`${at}: uploads ${step.with?.path ?? "nothing named"}: the report (drift.json) only`);
    });
  }
  return problems;
}
