/**
 * The engine's Node.js processes load @pulumi/pulumi with Arborist and TypeScript deferred
 * (src/pulumi/deferred-sdk-imports.cjs): neither loads at start-up, and each loads at its first use.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_DIR } from "../../src/model/stack-file";

const PRELOAD = join(PROJECT_DIR, "src", "pulumi", "deferred-sdk-imports.cjs");

/** Runs `script` in a Node.js process started in the project, with or without the preload; its last stdout line as JSON. */
function inNode(script: string, preload: boolean): Record<string, unknown> {
  const out = execFileSync(process.execPath, [...(preload ? ["--require", PRELOAD] : []), "-e", script], {
    cwd: PROJECT_DIR,
    encoding: "utf8",
  });
  return JSON.parse(out.trim().split("\n").pop()!);
}

const LOADED = `const loaded = (p) => Object.keys(require.cache).some((k) => k.includes(p));`;

describe("deferred SDK imports", () => {
  it("@pulumi/pulumi starts without Arborist and TypeScript, which it loads without the preload", () => {
    const script = `${LOADED} require("@pulumi/pulumi"); console.log(JSON.stringify({ arborist: loaded("/@npmcli/arborist/"), typescript: loaded("/typescript/lib/typescript.js") }));`;
    expect(inNode(script, false)).toEqual({ arborist: true, typescript: true });
    expect(inNode(script, true)).toEqual({ arborist: false, typescript: false });
  });

  it("a serialized function is parsed with the real TypeScript, loaded at that first use", () => {
    const script = `${LOADED} const pulumi = require("@pulumi/pulumi"); const before = loaded("/typescript/lib/typescript.js");
      pulumi.runtime.serializeFunction(() => 40 + 2).then((f) => console.log(JSON.stringify({ before, after: loaded("/typescript/lib/typescript.js"), text: f.text.includes("40 + 2") })));`;
    expect(inNode(script, true)).toEqual({ before: false, after: true, text: true });
  });

  it("a lambda's code paths are computed with the real Arborist, loaded at that first use", () => {
    const script = `${LOADED} const pulumi = require("@pulumi/pulumi"); const before = loaded("/@npmcli/arborist/");
      pulumi.runtime.computeCodePaths({ extraIncludePackages: ["yaml"] }).then((paths) => console.log(JSON.stringify({ before, after: loaded("/@npmcli/arborist/"), yaml: [...paths.keys()].some((p) => p.endsWith("node_modules/yaml")) })));`;
    expect(inNode(script, true)).toEqual({ before: false, after: true, yaml: true });
  });
});
