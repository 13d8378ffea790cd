import { describe, expect, it } from "vitest";
import { renderRouting } from "../../src/remote/effects/routing";

describe("postfix maps of a routing table", () => {
  it.each([
    [
      "split delivery: a local mailbox, a user living on the other system, trusted hosts",
      {
        domains: ["paradigms.test"],
        mailboxes: ["user1@paradigms.test"],
        relays: [{ recipient: "user4@paradigms.test", nextHop: "198.51.100.20" }],
        trusted: ["198.51.100.10"],
      },
      {
        domains: "paradigms.test OK\n",
        mailboxes: "user1@paradigms.test paradigms.test/user1/\n",
        relayed: "user4@paradigms.test relayed\n",
        transport: "user4@paradigms.test smtp:[198.51.100.20]:25\n",
        relay_domains: "",
        trusted: "198.51.100.10/32 OK\n",
      },
    ],
    [
      "the phase-2 connector: a whole domain relayed, no user entry",
      { domains: ["api.test"], mailboxes: [], relays: [{ recipient: "new.api.test", nextHop: "198.51.100.20" }], trusted: [] },
      {
        domains: "api.test OK\n",
        mailboxes: "",
        relayed: "",
        transport: "new.api.test smtp:[198.51.100.20]:25\n",
        relay_domains: "new.api.test OK\n",
        trusted: "",
      },
    ],
  ])("%s", (_what, table, maps) => {
    expect(renderRouting(table)).toEqual(maps);
  });

  it("sorts entries, so equal tables give equal files", () => {
    const a = renderRouting({ domains: ["b.test", "a.test"], mailboxes: [], relays: [], trusted: ["192.0.2.2", "192.0.2.1"] });
    expect(a.domains).toBe("a.test OK\nb.test OK\n");
    expect(a.trusted).toBe("192.0.2.1/32 OK\n192.0.2.2/32 OK\n");
  });
});
