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
