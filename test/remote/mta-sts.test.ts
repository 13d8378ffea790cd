import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { applyPolicies, policyPath, readPolicies } from "../../src/remote/effects/mta-sts";
import { run } from "../../src/remote/local";
import type { HostSession } from "../../src/remote/ssh";

describe("where an MTA-STS policy is written on the web host", () => {
  it("is the domain's mta-sts name under the directory, the path a web server maps that host name to", () => {
    expect(policyPath("/var/www/mta-sts", "example.com")).toBe("/var/www/mta-sts/mta-sts.example.com/.well-known/mta-sts.txt");
  });

  it("refuses a domain that is not plain DNS labels, whatever validation let through: no path escapes, no second argument", () => {
    for (const bad of ["../../etc", "example.com/../../root", "a b.example", "example.com\n", "", "-rf"])
      expect(() => policyPath("/var/www/mta-sts", bad), JSON.stringify(bad)).toThrow();
  });
});

describe("the MTA-STS policy files, written and read on a host", () => {
  const dir = mkdtempSync(join(tmpdir(), "cutover-mta-sts-"));
  const elsewhere = mkdtempSync(join(tmpdir(), "cutover-elsewhere-"));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(elsewhere, { recursive: true, force: true });
  });
  /** A session whose commands and files are this machine's, in the test's directories. */
  const here: HostSession = {
    target: { name: "web", address: "127.0.0.1", port: 22, user: "root", hostKey: "", privateKey: "" } as HostSession["target"],
    exec: async (argv, opts) => {
      const r = await run(argv, { input: opts?.stdin, allowFailure: true });
      if (r.code !== 0 && !opts?.allowFailure) throw new Error(`${argv.join(" ")} exited ${r.code}: ${r.stderr}`);
      return r;
    },
    readFile: async () => undefined,
    writeFile: async (path, text) => writeFileSync(path, text),
    close: () => undefined,
  };

  it("writes and reads each domain's policy in its own directory", async () => {
    await applyPolicies(here, dir, [{ domain: "example.com", text: "version: STSv1\n" }]);
    expect(await readPolicies(here, dir, ["example.com", "example.org"])).toEqual({
      "example.com": "version: STSv1\n",
      "example.org": undefined,
    });
  });

  it("refuses a domain directory or file that is a symbolic link, writing and reading nothing through it", async () => {
    symlinkSync(elsewhere, join(dir, "mta-sts.example.org"));
    await expect(applyPolicies(here, dir, [{ domain: "example.org", text: "version: STSv1\n" }])).rejects.toThrow(
      `on web: refusing to write or read MTA-STS policies through symbolic links (${dir}/mta-sts.example.org)`,
    );
    expect(readdirSync(elsewhere)).toEqual([]);
    writeFileSync(join(elsewhere, "secret"), "root's secret\n");
    mkdirSync(join(dir, "mta-sts.example.net", ".well-known"), { recursive: true });
    symlinkSync(join(elsewhere, "secret"), join(dir, "mta-sts.example.net", ".well-known", "mta-sts.txt"));
    await expect(readPolicies(here, dir, ["example.net"])).rejects.toThrow(
      /through symbolic links \(.*mta-sts\.example\.net\/\.well-known\/mta-sts\.txt\)/,
    );
  });
});
