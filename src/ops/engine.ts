/**
 * Obtaining the Pulumi engine: the `pulumi` on PATH when it is the pinned version or newer (with
 * its Node.js language host beside it); otherwise the CLI and the language host built from the Go
 * module proxy by the project's own Go modules (engine/), cached by version outside the clone.
 */

import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { CutoverError } from "../model/errors";
import { PROJECT_DIR } from "../model/stack-file";
import { run } from "../remote/local";

/** The engine could not be found or built: the message says why and what to install or change. */
export class EngineUnavailableError extends CutoverError {}

export interface Engine {
  /** Directory holding pulumi, pulumi-language-nodejs and pulumi-resource-pulumi-nodejs. */
  binDir: string;
  version: string;
  /** Where it came from: the user's PATH, this machine's cache, or a build just now. */
  source: "path" | "cache" | "built";
}

export type Progress = (message: string) => void;

/** The CLI version the project pins: that of @pulumi/pulumi in package.json. */
export function pinnedVersion(): string {
  const pkg = JSON.parse(readFileSync(join(PROJECT_DIR, "package.json"), "utf8"));
  const v = String(pkg.dependencies["@pulumi/pulumi"]);
  if (!/^\d+\.\d+\.\d+$/.test(v))
    throw new EngineUnavailableError(
      `package.json pins @pulumi/pulumi to "${v}": pin an exact version so the engine can be built to match`,
    );
  return v;
}

/** Module versions the engine's go.mod files require. */
export function goModVersions(): { cli: string; languageHost: string } {
  const req = (file: string, mod: string) => {
    const m = readFileSync(join(PROJECT_DIR, "engine", file, "go.mod"), "utf8").match(
      new RegExp(`^require ${mod.replace(/\//g, "\\/")} (v\\S+)`, "m"),
    );
    if (!m) throw new EngineUnavailableError(`engine/${file}/go.mod does not require ${mod}`);
    return m[1];
  };
  return { cli: req("cli", "github.com/pulumi/pulumi/pkg/v3"), languageHost: req("language-host", "github.com/pulumi/pulumi/sdk/v3") };
}

const compare = (a: string, b: string) => {
  const [x, y] = [a, b].map((v) => v.replace(/^v/, "").split(/[.-]/).slice(0, 3).map(Number));
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
};

export const cacheRoot = () => join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "cutover", "pulumi");
/** Loaded into the engine's Node.js processes: see the file. */
const DEFERRED_SDK_IMPORTS = join(PROJECT_DIR, "src", "pulumi", "deferred-sdk-imports.cjs");
const BINARIES = ["pulumi", "pulumi-language-nodejs", "pulumi-resource-pulumi-nodejs"];

/** A pulumi on PATH that is new enough, with a language host beside it. */
async function fromPath(version: string): Promise<Engine | undefined> {
  for (const dir of (process.env.PATH ?? "").split(delimiter).filter(Boolean)) {
    if (!existsSync(join(dir, "pulumi"))) continue;
    const r = await run([join(dir, "pulumi"), "version"], {
      allowFailure: true,
      timeoutMs: 20_000,
      env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" },
    });
    const found = r.stdout.trim();
    if (r.code !== 0 || !/^v\d+\.\d+\.\d+/.test(found) || compare(found, version) < 0) return undefined;
    if (!existsSync(join(dir, "pulumi-language-nodejs"))) return undefined;
    return { binDir: dir, version: found.replace(/^v/, ""), source: "path" };
  }
  return undefined;
}

/** Two cache stamps name the same Go build (CLI version and language host), whatever their launcher. Pure. */
function sameBuild(a: string, b: string): boolean {
  try {
    const [x, y] = [JSON.parse(a), JSON.parse(b)];
    return x.version === y.version && x.languageHost === y.languageHost;
  } catch {
    return false;
  }
}

/** Writes `file` whole under its name in one rename. */
function replaceFile(file: string, content: string, mode: number): void {
  const next = `${file}.${process.pid}.new`;
  writeFileSync(next, content, { mode });
  renameSync(next, file);
}

export async function obtainEngine(progress: Progress = () => {}, opts: { rebuild?: boolean } = {}): Promise<Engine> {
  const version = pinnedVersion();
  const mods = goModVersions();
  if (mods.cli !== `v${version}`)
    throw new EngineUnavailableError(
      `engine/cli/go.mod builds pulumi ${mods.cli} but package.json pins @pulumi/pulumi ${version}: change both together`,
    );
  if (!opts.rebuild) {
    const onPath = await fromPath(version);
    if (onPath) return onPath;
  }
  const binDir = join(cacheRoot(), `v${version}`, "bin");
  const stamp = join(binDir, ".complete");
  const launcher = readFileSync(join(PROJECT_DIR, "engine", "pulumi-resource-pulumi-nodejs"), "utf8");
  const wanted = JSON.stringify({ version, languageHost: mods.languageHost, launcher });
  const cached = existsSync(stamp) && BINARIES.every((b) => existsSync(join(binDir, b))) ? readFileSync(stamp, "utf8") : undefined;
  if (!opts.rebuild && cached === wanted) return { binDir, version, source: "cache" };
  // Only the launcher script changed: the Go binaries stand, the script and the stamp are replaced.
  if (!opts.rebuild && cached && sameBuild(cached, wanted)) {
    replaceFile(join(binDir, "pulumi-resource-pulumi-nodejs"), launcher, 0o755);
    replaceFile(stamp, wanted, 0o644);
    progress("engine: its dynamic-provider launcher script replaced (the binaries are unchanged)");
    return { binDir, version, source: "cache" };
  }

  const started = Date.now();
  progress(
    `engine: building pulumi v${version} and its Node.js language host from the Go module proxy (about 3 minutes on 2 cores the first time)`,
  );
  const staging = mkdtempSync(join(tmpdir(), "cutover-engine-"));
  try {
    await goBuild("cli", "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi", join(staging, "pulumi"), `v${version}`, progress);
    await goBuild(
      "language-host",
      "github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs",
      join(staging, "pulumi-language-nodejs"),
      mods.languageHost,
      progress,
    );
    copyFileSync(join(PROJECT_DIR, "engine", "pulumi-resource-pulumi-nodejs"), join(staging, "pulumi-resource-pulumi-nodejs"));
    chmodSync(join(staging, "pulumi-resource-pulumi-nodejs"), 0o755);
    writeFileSync(join(staging, ".complete"), wanted);
    // The finished set appears under its final name in one rename.
    mkdirSync(dirname(binDir), { recursive: true });
    rmSync(binDir, { recursive: true, force: true });
    renameSync(staging, binDir);
    chmodSync(binDir, 0o755);
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  progress(`engine: built in ${((Date.now() - started) / 1000).toFixed(0)} s, cached in ${binDir}`);
  return { binDir, version, source: "built" };
}

/** Environment for Go: the module proxy only (no direct VCS fetches), go.sum as committed. */
function goEnv(): NodeJS.ProcessEnv {
  const proxy = (process.env.GOPROXY || "https://proxy.golang.org")
    .split(/[,|]/)
    .filter((p) => p && p !== "direct" && p !== "off")
    .join(",");
  return { ...process.env, GOPROXY: proxy || "https://proxy.golang.org", GOFLAGS: "-mod=readonly -buildvcs=false", CGO_ENABLED: "0" };
}

function goBuild(moduleDir: string, pkg: string, out: string, version: string, progress: Progress): Promise<void> {
  const dir = join(PROJECT_DIR, "engine", moduleDir);
  const ldflags = `-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${version}`;
  return new Promise((resolve, reject) => {
    const child = spawn("go", ["build", "-v", "-trimpath", "-ldflags", ldflags, "-o", out, pkg], {
      cwd: dir,
      env: goEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let packages = 0;
    let lastReport = Date.now();
    const tail: string[] = [];
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      for (const line of chunk.split("\n").filter(Boolean)) {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        if (!line.startsWith("go: ")) packages++;
      }
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        progress(`engine: ${moduleDir}: ${packages} packages compiled`);
      }
    });
    child.stdout.resume();
    child.on("error", (e) => reject(new EngineUnavailableError(`engine: cannot run go (${e.message}): install Go 1.25 or newer`)));
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new EngineUnavailableError(`engine: go build of ${pkg} failed (exit ${code}):\n${tail.join("\n")}`)),
    );
  });
}

/** The environment the engine runs with: its binaries first on PATH, no plugin downloads, no update checks. */
export function engineEnv(engine: Engine, extra: NodeJS.ProcessEnv = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: `${engine.binDir}${delimiter}${process.env.PATH ?? ""}`,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    // npm test type-checks the program; the engine only needs it transpiled (1-2 s less per run).
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    // The program's and the provider's processes load @pulumi/pulumi without what cutover never uses
    // (0.35 s less per process; see the file).
    NODE_OPTIONS: [process.env.NODE_OPTIONS, "--require", JSON.stringify(DEFERRED_SDK_IMPORTS)].filter(Boolean).join(" "),
  };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}
