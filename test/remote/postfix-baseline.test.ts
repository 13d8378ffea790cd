import { describe, expect, it } from "vitest";
import { baselineDifferences, mapReferences, parsePostconf, parseServices } from "../../src/remote/effects/postfix-baseline";

describe("a gateway's postfix baseline", () => {
  it("reads postconf -n and -M as postfix prints them, empty values included", () => {
    expect(parsePostconf("relayhost = [relay.isp.test]:2525\nmydestination =\nalias_maps = hash:/etc/aliases\n")).toEqual({
      relayhost: "[relay.isp.test]:2525",
      mydestination: "",
      alias_maps: "hash:/etc/aliases",
    });
    expect(parseServices("smtp      inet  n       -       y       -       -       smtpd\n  -o x=y\nbad line\n")).toEqual({
      "smtp/inet": "smtp inet n - y - - smtpd",
    });
  });

  it("finds the maps the settings name, cutover's own maps and unreadable references left out", () => {
    expect(
      mapReferences([
        "hash:/etc/postfix/cutover/current/transport, hash:/etc/postfix/transport",
        "regexp:/etc/postfix/header_checks",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: postfix's own $name expansion, as main.cf has it.
        "btree:${data_directory}/smtp_scache",
        "permit_mynetworks, check_client_access cidr:/etc/postfix/clients",
      ]),
    ).toEqual(["cidr:/etc/postfix/clients", "hash:/etc/postfix/transport", "regexp:/etc/postfix/header_checks"]);
  });

  it("names every difference, owned or not, with mail flow for relays, trust and transports (and the maps they name)", () => {
    const recorded = {
      "main.cf relayhost": "[relay.isp.test]:2525",
      "main.cf transport_maps": "hash:/etc/postfix/cutover/current/transport, hash:/etc/postfix/transport",
      "main.cf header_checks": "regexp:/etc/postfix/header_checks",
      "map hash:/etc/postfix/transport": "aaa",
      "map regexp:/etc/postfix/header_checks": "bbb",
      "master.cf submission/inet": "submission inet n - y - - smtpd",
    };
    const live = {
      ...recorded,
      "main.cf relayhost": "[192.0.2.99]",
      "map hash:/etc/postfix/transport": "ccc",
      "map regexp:/etc/postfix/header_checks": "ddd",
      "main.cf smtpd_tls_security_level": "may",
    };
    delete (live as Record<string, string>)["master.cf submission/inet"];
    expect(baselineDifferences(recorded, live).map((d) => `${d.severity}: ${d.what}: ${d.recorded} -> ${d.live}`)).toEqual([
      "mail flow: main.cf relayhost: [relay.isp.test]:2525 -> [192.0.2.99]",
      "config: main.cf smtpd_tls_security_level: (not set) -> may",
      "mail flow: map hash:/etc/postfix/transport: aaa -> ccc",
      "config: map regexp:/etc/postfix/header_checks: bbb -> ddd",
      "config: master.cf submission/inet: submission inet n - y - - smtpd -> (not set)",
    ]);
    expect(baselineDifferences(recorded, { ...recorded })).toEqual([]);
  });
});
