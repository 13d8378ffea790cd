/**
 * The house's layers: data flows config -> plan -> effects, and checks read the world. A lower layer
 * never imports a higher one; only lab/ (and the entry points above it) knows the lab exists.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_DIR } from "../src/model/stack-file";

/** What each layer may import besides itself and packages. */
const ALLOWED: Record<string, string[]> = {
  "src/model": [],
  "src/remote": ["src/model"],
  "src/checks": ["src/model", "src/remote"],
  components: ["src/model", "src/remote"],
  "src/pulumi": ["src/model", "src/remote", "components"],
  "src/ops": ["src/model", "src/remote", "src/checks", "components", "src/pulumi"],
  lab: ["src/model", "src/remote", "src/checks", "components", "src/pulumi", "src/ops"],
  "index.ts": ["src/model", "components", "src/pulumi"],
};

const layerOf = (file: string) => Object.keys(ALLOWED).find((l) => file === l || file.startsWith(`${l}/`));

function sourceFiles(): string[] {
  return execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "*.ts"], { cwd: PROJECT_DIR, encoding: "utf8" })
    .split("\n")
    .filter((f) => f && !f.startsWith("test/"));
}

/** Every relative module a file imports (static, dynamic, require, or a provider's tsx require), as a path from the project root. */
function importsOf(file: string, text: string): string[] {
  const specs = [...text.matchAll(/(?:from\s+|import\s+|import\(\s*|require\(\s*)["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]);
  return specs.map((s) => relative(PROJECT_DIR, resolve(PROJECT_DIR, dirname(file), s)));
}

describe("layers", () => {
  const files = sourceFiles();

  it("finds the source files", () => {
    expect(files).toContain("src/model/plan.ts");
    expect(files).toContain("lab/lab.ts");
  });

  it.each(Object.keys(ALLOWED))("%s imports only the layers below it", (layer) => {
    const offending = files
      .filter((f) => layerOf(f) === layer)
      .flatMap((f) =>
        importsOf(f, readFileSync(join(PROJECT_DIR, f), "utf8"))
          .map((target) => ({ target, layer: layerOf(`${target}.ts`) ?? layerOf(target) }))
          .filter(({ layer: to }) => to !== undefined && to !== layer && !ALLOWED[layer].includes(to))
          .map(({ target }) => `${f} -> ${target}`),
      );
    expect(offending).toEqual([]);
  });

  it("a model file importing the ops layer would be caught", () => {
    const imports = importsOf("src/model/plan.ts", 'import { runPhase } from "../ops/phase";');
    expect(imports).toEqual(["src/ops/phase"]);
    expect(layerOf(`${imports[0]}.ts`)).toBe("src/ops");
    expect(ALLOWED["src/model"]).not.toContain("src/ops");
  });

  it("no source file outside lab/ runs or mentions ip netns", () => {
    const mentions = files.filter((f) => !f.startsWith("lab/") && /ip netns|"netns"/.test(readFileSync(join(PROJECT_DIR, f), "utf8")));
    expect(mentions).toEqual([]);
  });
});
