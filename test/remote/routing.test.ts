import { describe, expect, it } from "vitest";
import { routingDigest } from "../../src/model/routing";
import {
  mainCfSetting,
  mergedParameters,
  OWNED_PARAMETERS,
  renderRouting,
  SECRET_CHAIN,
  tlsParameters,
  withoutRoutedDomains,
} from "../../src/remote/effects/routing";

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
        relay_recipients: "",
        trusted: "198.51.100.10/32 OK\n",
        tls: "",
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
        relay_recipients: "",
        trusted: "",
        tls: "",
      },
    ],
  ])("%s", (_what, table, maps) => {
    expect(renderRouting(table)).toEqual(maps);
  });

  it("trusts a relay client network as written and a host as its /32", () => {
    expect(renderRouting({ domains: [], mailboxes: [], relays: [], trusted: ["192.0.2.0/24", "198.51.100.10"] }).trusted).toBe(
      "192.0.2.0/24 OK\n198.51.100.10/32 OK\n",
    );
  });

  it("serves the gateway's chain while the table has a TLS identity, and the host's own TLS settings otherwise", () => {
    const spki = "ab".repeat(32);
    const fromFile = { name: "mail.paradigms.com", spki, chain: "/etc/ssl/private/mail.pem" };
    expect(renderRouting({ domains: [], mailboxes: [], relays: [], trusted: [], tls: fromFile }).tls).toBe(
      `mail.paradigms.com ${spki} /etc/ssl/private/mail.pem\n`,
    );
    // Debian's stock "may" (or the lab's "none") becomes "may": a public MX offers STARTTLS and never requires it.
    expect(tlsParameters({ smtpd_tls_security_level: "none", smtpd_tls_chain_files: null }, fromFile)).toEqual({
      smtpd_tls_chain_files: "/etc/ssl/private/mail.pem",
      smtpd_tls_security_level: "may",
    });
    expect(tlsParameters({ smtpd_tls_security_level: "encrypt" }, { name: "mail.paradigms.com", spki })).toEqual({
      smtpd_tls_chain_files: SECRET_CHAIN,
      smtpd_tls_security_level: "encrypt",
    });
    expect(tlsParameters({ smtpd_tls_security_level: "none", smtpd_tls_chain_files: null }, undefined)).toEqual({
      smtpd_tls_chain_files: null,
      smtpd_tls_security_level: "none",
    });
    const base = { domains: [], mailboxes: [], relays: [], trusted: [] };
    expect(routingDigest({ ...base, tls: fromFile })).not.toBe(routingDigest(base));
  });

  it("sorts entries, so equal tables give equal files", () => {
    const a = renderRouting({ domains: ["b.test", "a.test"], mailboxes: [], relays: [], trusted: ["192.0.2.2", "192.0.2.1"] });
    expect(a.domains).toBe("a.test OK\nb.test OK\n");
    expect(a.trusted).toBe("192.0.2.1/32 OK\n192.0.2.2/32 OK\n");
  });
});

describe("the postfix builders refuse what validation should have caught", () => {
  const table = { domains: ["api.test"], mailboxes: ["ann@api.test"], relays: [], trusted: [] };
  it.each([
    ["a newline in a mailbox", { ...table, mailboxes: ["ann@api.test\nevil@api.test"] }],
    ["a path in a mailbox", { ...table, mailboxes: ["../../../etc/cron.d/x@api.test"] }],
    ["a bare .. mailbox", { ...table, mailboxes: ["..@api.test"] }],
    ["a map comment", { ...table, mailboxes: ["#x@api.test"] }],
    ["a NUL in a domain", { ...table, domains: ["api.test\u0000"] }],
    ["a space in a relay recipient", { ...table, relays: [{ recipient: "a b@api.test", nextHop: "192.0.2.1" }] }],
    ["a newline in a next hop", { ...table, relays: [{ recipient: "b@api.test", nextHop: "192.0.2.1]\nevil smtp:[203.0.113.1" }] }],
    ["an escape in a trusted address", { ...table, trusted: ["192.0.2.1\u001b"] }],
    ["a newline in a relay recipient of a relayed domain", { ...table, relayRecipients: ["a@api.test\n#"] }],
  ])("%s", (_what, hostile) => {
    expect(() => renderRouting(hostile)).toThrow(/refusing to (write|make)/);
  });

  it("a main.cf setting whose value holds a newline or a carriage return", () => {
    expect(mainCfSetting("smtpd_banner", "mail.api.test ESMTP")).toBe("smtpd_banner=mail.api.test ESMTP");
    expect(() => mainCfSetting("smtpd_banner", "x\nmynetworks=0.0.0.0/0")).toThrow(/refusing to write the value of smtpd_banner/);
    expect(() => mainCfSetting("myhostname", "x\rmynetworks=0.0.0.0/0")).toThrow(/refusing to write/);
    expect(() => mainCfSetting("my\nnetworks", "x")).toThrow(/refusing to write the main.cf parameter/);
  });

  it("writes the relay recipients of the domains it relays whole", () => {
    const maps = renderRouting({
      ...table,
      relays: [{ recipient: "new.api.test", nextHop: "192.0.2.20" }],
      relayRecipients: ["bob@new.api.test"],
    });
    expect(maps.relay_recipients).toBe("bob@new.api.test OK\n");
    expect(maps.mailboxes).toBe("ann@api.test api.test/ann/\n");
  });
});

describe("a host's own settings kept beside cutover's", () => {
  const C = "/etc/postfix/cutover/current";
  /** Debian's stock main.cf for an Internet Site, plus what a real legacy gateway adds. */
  const gateway = {
    virtual_mailbox_domains: null,
    virtual_mailbox_maps: null,
    transport_maps: "hash:/etc/postfix/transport",
    relay_domains: null,
    relay_recipient_maps: null,
    mynetworks: "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128 192.0.2.64/27",
    smtpd_relay_restrictions: "permit_mynetworks permit_sasl_authenticated defer_unauth_destination",
    mydestination: "$myhostname, legacy.lab.invalid, localhost.localdomain, , localhost",
  };

  it("adds cutover's maps before the host's, its trusted clients to the host's mynetworks, its relay rule to the host's restrictions", () => {
    expect(mergedParameters(gateway)).toEqual({
      virtual_mailbox_domains: `hash:${C}/domains`,
      virtual_mailbox_maps: `hash:${C}/mailboxes, hash:${C}/relayed`,
      // cutover's entries for the organisation's users win; the partner's entry still applies.
      transport_maps: `hash:${C}/transport, hash:/etc/postfix/transport`,
      relay_domains: `hash:${C}/relay_domains`,
      relay_recipient_maps: `hash:${C}/relay_recipients`,
      mynetworks: `127.0.0.0/8, [::ffff:127.0.0.0]/104, [::1]/128, 192.0.2.64/27, cidr:${C}/trusted`,
      // SASL users still relay; a stranger is refused with 5xx before Debian's 4xx deferral.
      smtpd_relay_restrictions: "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination, defer_unauth_destination",
    });
  });

  it("a host with none of its own gets cutover's values alone; merging twice changes nothing", () => {
    expect(mergedParameters({})).toEqual(OWNED_PARAMETERS);
    const once = mergedParameters(gateway);
    expect(mergedParameters({ ...gateway, transport_maps: once.transport_maps })).toEqual(once);
  });

  it.each([
    // Left out on purpose: cutover's clients alone are trusted to relay, never the host's whole mynetworks.
    ["reject_unauth_destination", "check_client_access, cidr:/etc/postfix/cutover/current/trusted, reject_unauth_destination"],
    [
      "permit_sasl_authenticated reject_unauth_destination",
      "check_client_access, cidr:/etc/postfix/cutover/current/trusted, permit_sasl_authenticated, reject_unauth_destination",
    ],
    [
      "permit_mynetworks, check_client_access hash:/etc/postfix/clients",
      "permit_mynetworks, check_client_access, hash:/etc/postfix/clients, reject_unauth_destination",
    ],
  ])("relay restrictions %s become %s", (own, merged) => {
    expect(mergedParameters({ smtpd_relay_restrictions: own }).smtpd_relay_restrictions).toBe(merged);
    // Merged again, the same: cutover's rule is in once.
    expect(mergedParameters({ smtpd_relay_restrictions: merged }).smtpd_relay_restrictions).toBe(merged);
  });

  it("mydestination loses only the domains cutover routes, in the host's own spelling", () => {
    const raw = gateway.mydestination;
    const expanded = "new.api.test, legacy.lab.invalid, localhost.localdomain, localhost";
    // Phase 2: the new system's address space is its own host name, which $myhostname names.
    expect(withoutRoutedDomains(raw, expanded, ["new.api.test"])).toBe("legacy.lab.invalid, localhost.localdomain, localhost");
    expect(withoutRoutedDomains(raw, expanded, ["api.test"])).toBeUndefined();
    expect(withoutRoutedDomains("$myhostname $mydomain", "mail.example.com example.com", ["example.com"])).toBe("$myhostname");
    // A token that expands to several values: the expanded values, without the routed ones.
    expect(withoutRoutedDomains("$local_domains", "a.test, b.test", ["b.test"])).toBe("a.test");
  });
});
