/** The commands as a user meets them: --help, --version, the exit-code table, bad input. */
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DRIFT_EXIT_HELP, EXIT_HELP, exitCodeOf, VERIFY_EXIT_HELP } from "../../scripts/cli";
import { CutoverError, InputError } from "../../src/model/errors";
import { InventoryError } from "../../src/model/inventory";
import { PROJECT_DIR, STACKS_DIR } from "../../src/model/stack-file";
import { EngineError, HoldLostError, StackBusyError } from "../../src/ops/errors";

const TSX = require.resolve("tsx/cli");
const COMMANDS = [
  "phase",
  "rollback",
  "history",
  "hold",
  "preview",
  "drift",
  "plan",
  "verify",
  "lab",
  "engine",
  "rehearse",
  "bench",
  "test",
  "probe-gateway",
  "mail-stream",
];

function runScript(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      [TSX, join(PROJECT_DIR, "scripts", `${name}.ts`), ...args],
      { cwd: PROJECT_DIR, env },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

const tableRows = (help: string) =>
  help
    .trim()
    .split("\n")
    .slice(1)
    .map((l) => l.trim());

describe("every command", () => {
  it("is listed here", () => {
    const scripts = readdirSync(join(PROJECT_DIR, "scripts")).filter((f) => f.endsWith(".ts") && !["cli.ts", "stack-cli.ts"].includes(f));
    expect(scripts.map((f) => f.replace(/\.ts$/, "")).sort()).toEqual([...COMMANDS].sort());
  });

  it("prints --help with its exit codes and --version", async () => {
    const results = await Promise.all(
      COMMANDS.map(async (c) => ({ c, help: await runScript(c, ["--help"]), version: await runScript(c, ["--version"]) })),
    );
    for (const { c, help, version } of results) {
      expect(help.code, c).toBe(0);
      expect(help.stdout, c).toContain("Exit codes:");
      if (!["drift", "verify", "test", "probe-gateway", "mail-stream"].includes(c)) expect(help.stdout, c).toContain(EXIT_HELP.trim());
      expect(version.stdout.trim(), c).toBe(JSON.parse(readFileSync(join(PROJECT_DIR, "package.json"), "utf8")).version);
    }
    expect(results.find((r) => r.c === "drift")!.help.stdout).toContain(DRIFT_EXIT_HELP.trim());
    expect(results.find((r) => r.c === "verify")!.help.stdout).toContain(VERIFY_EXIT_HELP.trim());
  }, 120_000);

  it("documents the same exit-code tables in the README", () => {
    const readme = readFileSync(join(PROJECT_DIR, "README.md"), "utf8");
    for (const row of [...tableRows(EXIT_HELP), ...tableRows(DRIFT_EXIT_HELP)]) {
      const [code, ...meaning] = row.split(/\s+/);
      const escaped = meaning.join(" ").replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      expect(readme, row).toMatch(new RegExp(`\\|\\s*${code}\\s*\\|\\s*${escaped}\\s*\\|`));
    }
  });

  it("refuses an unknown option or stack with exit 2, listing the stacks there are", async () => {
    const option = await runScript("plan", ["--no-such-option"]);
    expect(option.code).toBe(2);
    const stack = await runScript("preview", ["-s", "no-such-stack", "--offline"]);
    expect(stack.code).toBe(2);
    expect(stack.stderr).toContain(
      "no stack no-such-stack: stacks/Pulumi.no-such-stack.yaml does not exist. Stacks here: pilot, production",
    );
    expect(stack.stderr).not.toMatch(/^\s+at /m);
    const resolver = await runScript("verify", ["production", "--resolver", "ns1.example.com"]);
    expect(resolver.code).toBe(2);
    expect(resolver.stderr).toContain("--resolver ns1.example.com: give a resolver's IPv4 address, such as 192.0.2.53");
  }, 60_000);
});

describe("exit codes by error class", () => {
  it.each<[string, unknown, number]>([
    ["bad inventory", new InventoryError([{ path: "inventory.x", message: "m" }]), 2],
    ["other bad input", new InputError("m"), 2],
    ["a busy stack", new StackBusyError("s"), 7],
    ["a hold lost before the update", new HoldLostError("s", "terminating connection due to administrator command"), 7],
    ["the engine failed", new EngineError("up", "s", ["error: x"]), 1],
    ["a host failed", new CutoverError("m"), 1],
    ["a bug", new TypeError("x is undefined"), 1],
  ])("%s exits %s", (_what, error, code) => {
    expect(exitCodeOf(error)).toBe(code);
  });
});

describe("a stack with no backend chosen", () => {
  it("is refused by the stack commands, saying how to choose one, instead of landing in a local directory", async () => {
    const { PULUMI_BACKEND_URL: _, ...env } = process.env;
    const home = mkdtempSync(join(tmpdir(), "cutover-pulumi-home-"));
    for (const [cmd, args] of [
      ["phase", ["production", "4", "--yes"]],
      ["rollback", ["production", "--yes"]],
      ["preview", ["production", "--phase", "5"]],
    ] as const) {
      const r = await runScript(cmd, [...args], { ...env, PULUMI_HOME: home });
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/stack production: no state backend is chosen.*pulumi login .*PULUMI_BACKEND_URL=postgres:\/\//);
    }
  }, 120_000);
});

describe("the production page's plugin install commands", () => {
  it("name the versions of the provider packages package.json installs", () => {
    const readme = readFileSync(join(PROJECT_DIR, "docs", "production.md"), "utf8");
    for (const provider of ["aws", "cloudflare"]) {
      const pinned = JSON.parse(readFileSync(join(PROJECT_DIR, "node_modules", "@pulumi", provider, "package.json"), "utf8")).pulumi
        .version;
      expect(readme).toContain(`pulumi plugin install resource ${provider} ${pinned}`);
    }
  });
});

describe("output through a pipe", () => {
  it("arrives whole when it is larger than a pipe's buffer and the reader is slow", async () => {
    // The plans of a production-shaped stack of 1,000 mailboxes as JSON take about 300 KB; a shell
    // pipe (an OS pipe, unlike the socket pair Node gives a child) holds 64 KiB, and its reader
    // takes nothing for a second, so the command ends while most of its output is still queued.
    const name = `cli-pipe-${process.pid}`;
    const mailboxFile = `mailboxes.${name}.csv`;
    const stackFile = join(STACKS_DIR, `Pulumi.${name}.yaml`);
    writeFileSync(
      join(STACKS_DIR, mailboxFile),
      readFileSync(join(STACKS_DIR, "mailboxes.production.csv"), "utf8") +
        Array.from({ length: 1000 }, (_, i) => `staff${i}@example.com,${i % 2 ? "new" : "legacy"},hq\n`).join(""),
    );
    writeFileSync(
      stackFile,
      readFileSync(join(STACKS_DIR, "Pulumi.production.yaml"), "utf8").replace("mailboxes.production.csv", mailboxFile),
    );
    const plan = `${JSON.stringify(process.execPath)} ${JSON.stringify(TSX)} scripts/plan.ts ${name} --json`;
    const output = await new Promise<string>((resolve, reject) =>
      execFile("bash", ["-c", `set -o pipefail; ${plan} | { sleep 1; cat; }`], { cwd: PROJECT_DIR, maxBuffer: 1 << 24 }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    ).finally(() => {
      rmSync(stackFile, { force: true });
      rmSync(join(STACKS_DIR, mailboxFile), { force: true });
    });
    expect(output.length).toBeGreaterThan(65_536);
    expect(() => JSON.parse(output)).not.toThrow();
  }, 60_000);
});
