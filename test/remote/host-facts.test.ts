/** What cutover can drive, from a host's facts (read on the lab in test/lab/effects.test.ts). */
import { describe, expect, it } from "vitest";
import { factsLine, factsProblem, type HostFacts } from "../../src/remote/effects/host-facts";

const facts = (mta: HostFacts["mta"]): HostFacts => ({ system: "Debian GNU/Linux 12 (bookworm)", mta, init: "systemd" });

describe("a gateway host's facts", () => {
  it("a postfix of 3.0 or later is driven; its facts make one line", () => {
    expect(factsProblem("legacy (192.0.2.10)", facts({ name: "postfix", version: "3.7.11" }))).toBeUndefined();
    expect(factsProblem("legacy (192.0.2.10)", facts({ name: "postfix", version: "3.0.0" }))).toBeUndefined();
    expect(factsLine(facts({ name: "postfix", version: "3.7.11" }))).toBe("Debian GNU/Linux 12 (bookworm), postfix 3.7.11, systemd");
  });

  it("another MTA, no postfix, or one too old: refused in one line naming what was found and the fix", () => {
    expect(factsProblem("legacy (192.0.2.10)", facts({ name: "exim", detail: "Exim version 4.96 #2 built 02-Jun-2024" }))).toBe(
      "legacy (192.0.2.10) (Debian GNU/Linux 12 (bookworm)) runs exim (Exim version 4.96 #2 built 02-Jun-2024), not postfix: cutover configures postfix only; run this gateway on postfix, or leave it out of the stack",
    );
    expect(factsProblem("new (192.0.2.20)", facts({ name: "sendmail", detail: "/usr/lib/sm.bin/sendmail" }))).toMatch(
      /^new \(192\.0\.2\.20\) \(Debian GNU\/Linux 12 \(bookworm\)\) runs sendmail \(\/usr\/lib\/sm\.bin\/sendmail\), not postfix/,
    );
    expect(factsProblem("new (192.0.2.20)", facts({ name: "none" }))).toMatch(
      /has no postfix \(no postconf on its PATH\): install postfix there/,
    );
    expect(factsProblem("new (192.0.2.20)", facts({ name: "postfix", version: "2.11.3" }))).toMatch(
      /runs postfix 2\.11\.3, older than the 3\.0 cutover needs: upgrade postfix there first$/,
    );
    expect(factsProblem("new (192.0.2.20)", facts({ name: "postfix", version: "" }))).toMatch(/runs postfix of an unknown version/);
  });
});
