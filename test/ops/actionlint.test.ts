/** The GitHub workflows: actionlint (built from its Go module) must pass, and must be able to fail. */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { PROJECT_DIR } from "../../src/model/stack-file";
import { lintWorkflows, workflowSecurityProblems } from "../../src/ops/actionlint";

const WORKFLOWS = join(PROJECT_DIR, ".github", "workflows");

describe("GitHub workflows", () => {
  it("pass actionlint", async () => {
    const files = readdirSync(WORKFLOWS)
      .filter((f) => /\.ya?ml$/.test(f))
      .map((f) => join(WORKFLOWS, f));
    expect(files.map((f) => f.slice(WORKFLOWS.length + 1))).toContain("drift.yml");
    const r = await lintWorkflows(files);
    expect(r.output).toBe("");
    expect(r.ok).toBe(true);
  }, 120_000);

  it("a broken workflow does not: actionlint names the file, line and fault", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cutover-workflow-"));
    // biome-ignore-start lint/suspicious/noTemplateCurlyInString: GitHub expressions, not templates
    const broken = readFileSync(join(WORKFLOWS, "drift.yml"), "utf8").replace(
      "${{ inputs.stack || 'production' }}",
      "${{ input.stack || 'production' }}",
    );
    // biome-ignore-end lint/suspicious/noTemplateCurlyInString: GitHub expressions, not templates
    writeFileSync(join(dir, "drift.yml"), broken);
    const r = await lintWorkflows([join(dir, "drift.yml")]);
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(/drift\.yml:\d+:\d+: undefined variable "input"/);
  }, 120_000);

  it("drift runs on a schedule and on demand, with the project's engine, its Markdown as the job summary", () => {
    const w = parse(readFileSync(join(WORKFLOWS, "drift.yml"), "utf8"));
    expect(w.on.schedule[0].cron).toMatch(/^\S+ \S+ \* \* \*$/);
    expect(w.on.workflow_dispatch.inputs.stack.default).toBe("production");
    const steps = w.jobs.drift.steps as { name?: string; uses?: string; run?: string; env?: Record<string, string> }[];
    expect(steps.find((s) => s.run?.includes("npm run --silent engine"))).toBeDefined();
    const drift = steps.find((s) => s.run?.includes("npm run --silent drift"))!;
    expect(drift.run).toContain('--markdown "$GITHUB_STEP_SUMMARY"');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub expression, not a template
    expect(drift.env?.PULUMI_CONFIG_PASSPHRASE).toBe("${{ secrets.PULUMI_CONFIG_PASSPHRASE }}");
  });

  it("drift hands its secrets to the drift step only, pins every action by commit, runs from main in its environment", () => {
    const text = readFileSync(join(WORKFLOWS, "drift.yml"), "utf8");
    const problems = (t: string) => workflowSecurityProblems(t, parse(t), "Drift check");
    expect(problems(text)).toEqual([]);
    // Each rule fails the fault it names.
    const mutated = (from: string | RegExp, to: string) => {
      const t = text.replace(from, to);
      expect(t, `mutation ${from}`).not.toBe(text);
      return problems(t);
    };
    expect(mutated(/actions\/checkout@[0-9a-f]{40} # v[\d.]+/, "actions/checkout@v4")).toEqual([
      "job drift, step actions/checkout@v4: actions/checkout@v4 is pinned by a tag or branch, which can be moved: pin the full commit SHA",
    ]);
    expect(mutated(/(actions\/setup-node@[0-9a-f]{40}) # v[\d.]+/, "$1")).toEqual([expect.stringMatching(/has no version comment/)]);
    // biome-ignore-start lint/suspicious/noTemplateCurlyInString: GitHub expressions, not templates
    expect(
      mutated(
        "      STACK: ${{ inputs.stack || 'production' }}",
        "      STACK: ${{ inputs.stack || 'production' }}\n      PULUMI_CONFIG_PASSPHRASE: ${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
      ),
    ).toEqual([expect.stringMatching(/^job drift: its env holds the secret PULUMI_CONFIG_PASSPHRASE, which every step and action sees/)]);
    // biome-ignore-end lint/suspicious/noTemplateCurlyInString: GitHub expressions, not templates
    expect(mutated("    environment: cutover-drift\n", "")).toEqual([expect.stringMatching(/^job drift: no environment/)]);
    expect(mutated("    if: github.ref == 'refs/heads/main'\n", "")).toEqual([expect.stringMatching(/^job drift: runs from any branch/)]);
    expect(mutated(" --ignore-scripts", "")).toEqual([expect.stringMatching(/add --ignore-scripts$/)]);
    expect(mutated("path: drift.json", "path: .")).toEqual([expect.stringMatching(/uploads \.: the report \(drift\.json\) only$/)]);
    expect(mutated("- name: Drift check", "- name: Drift")).toEqual([
      expect.stringMatching(/gets the secrets PULUMI_ACCESS_TOKEN, .*only the step "Drift check" may$/),
    ]);
  });

  it("drift takes AWS credentials by OIDC, never a stored key, on a runner that reaches the gateways", () => {
    const text = readFileSync(join(WORKFLOWS, "drift.yml"), "utf8");
    const w = parse(text);
    expect(w.permissions["id-token"]).toBe("write");
    const steps = w.jobs.drift.steps as { uses?: string; run?: string; with?: Record<string, string> }[];
    const aws = steps.find((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"));
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub expression, not a template
    expect(aws?.with?.["role-to-assume"]).toBe("${{ vars.AWS_ROLE_ARN }}");
    expect(steps.indexOf(aws!)).toBeLessThan(steps.findIndex((s) => s.run?.includes("npm run --silent drift")));
    expect(text).not.toMatch(/AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY/);
    expect(w.jobs.drift["runs-on"]).toEqual(["self-hosted", "linux", "cutover"]);
  });
});
