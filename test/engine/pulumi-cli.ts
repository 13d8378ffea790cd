/** The Pulumi CLI alone, as a user runs it by hand on a lab stack: its exit code and all it printed. */
import { spawn } from "node:child_process";
import { stripVTControlCharacters } from "node:util";
import { LAB_PASSPHRASE } from "../../lab/lab-stack";
import { PROJECT_DIR } from "../../src/model/stack-file";
import { type Engine, engineEnv } from "../../src/ops/engine";
import { localBackendUrl } from "../../src/ops/stack";

export function pulumiCli(engine: Engine, args: string[]): Promise<{ code: number; out: string }> {
  const env = { ...process.env, ...engineEnv(engine, { PULUMI_BACKEND_URL: localBackendUrl(), PULUMI_CONFIG_PASSPHRASE: LAB_PASSPHRASE }) };
  const child = spawn("pulumi", args, { cwd: PROJECT_DIR, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code: code ?? 1, out: stripVTControlCharacters(out) })));
}
