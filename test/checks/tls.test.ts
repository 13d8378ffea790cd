import { describe, expect, it } from "vitest";
import { postfixFingerprint, publishedTlsaOf, tlsVerdict } from "../../src/checks/tls";

// posttls-finger's own output, as the lab's postfix 3.7 prints it.
const SERVED = "5D:B4:3C:5D:D0:E2:F6:7E:B5:28:85:C8:C4:D1:4B:45:B7:F7:DA:76:87:75:BF:C6:FD:AA:24:08:51:6D:D6:46";
const cert = `posttls-finger: 198.51.100.25[198.51.100.25]:25: subject_CN=mail.api.test, issuer_CN=cutover lab CA, fingerprint=EC:71, pkey_fingerprint=${SERVED}`;

describe("a TLS key test's verdict", () => {
  it("passes only a session verified against the published keys", () => {
    const v = tlsVerdict(
      `${cert}\nposttls-finger: Verified TLS connection established to 198.51.100.25[198.51.100.25]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384`,
      0,
    );
    expect(v).toMatchObject({ verdict: "verified", served: SERVED.replace(/:/g, "").toLowerCase() });
  });

  it("fails another key and a server that does not offer STARTTLS", () => {
    expect(
      tlsVerdict(`${cert}\nposttls-finger: Untrusted TLS connection established to 198.51.100.20[198.51.100.20]:25: TLSv1.3`, 0).verdict,
    ).toBe("mismatch");
    const plain = [
      "posttls-finger: Connected to 198.51.100.25[198.51.100.25]:25",
      "posttls-finger: < 220 legacy.lab.invalid ESMTP Postfix (Debian/GNU)",
      "posttls-finger: > EHLO internet.lab.invalid",
      "posttls-finger: < 250-legacy.lab.invalid",
      "posttls-finger: < 250-PIPELINING",
      "posttls-finger: < 250 CHUNKING",
      "posttls-finger: > QUIT",
    ].join("\n");
    expect(tlsVerdict(plain, 0)).toMatchObject({ verdict: "mismatch", detail: expect.stringMatching(/^does not offer STARTTLS/) });
  });

  it("calls no connection, no answer and no tool 'could not check', never a pass", () => {
    const noRoute =
      "posttls-finger: Failed to establish session to [198.51.100.99]:25 via 198.51.100.99: connect to 198.51.100.99[198.51.100.99]:25: No route to host";
    expect(tlsVerdict(noRoute, 0)).toMatchObject({ verdict: "unknown", detail: expect.stringMatching(/No route to host$/) });
    expect(tlsVerdict("", 124)).toMatchObject({ verdict: "unknown", detail: "no answer within 20 s" });
    expect(tlsVerdict("sh: posttls-finger: not found", 127).verdict).toBe("unknown");
    // A STARTTLS offered, then the session cut before the handshake: no verdict on the key.
    expect(
      tlsVerdict("posttls-finger: < 250-legacy.lab.invalid\nposttls-finger: < 250 STARTTLS\nposttls-finger: > STARTTLS", 0).verdict,
    ).toBe("unknown");
  });

  it("writes a key's digest as postfix prints fingerprints", () => {
    expect(postfixFingerprint(SERVED.replace(/:/g, "").toLowerCase())).toBe(SERVED);
  });
});

describe("the TLSA record as a validating resolver returns it", () => {
  const answer = (flags: string, status = "NOERROR") =>
    [
      "; <<>> DiG 9.18.41-1~deb12u1-Debian <<>> +dnssec TLSA _25._tcp.mail.paradigms.test",
      ";; global options: +cmd",
      ";; Got answer:",
      `;; ->>HEADER<<- opcode: QUERY, status: ${status}, id: 4242`,
      `;; flags: ${flags}; QUERY: 1, ANSWER: 3, AUTHORITY: 0, ADDITIONAL: 1`,
      "",
      ";; QUESTION SECTION:",
      ";_25._tcp.mail.paradigms.test.\tIN\tTLSA",
      "",
      ";; ANSWER SECTION:",
      "_25._tcp.mail.paradigms.test. 300 IN\tTLSA\t3 1 1 AABBCCDDEEFF00112233445566778899AABBCCDDEEFF00112233445566 778899",
      "_25._tcp.mail.paradigms.test. 300 IN\tTLSA\t3 1 1 00112233445566778899AABBCCDDEEFF00112233445566778899AABB CCDDEEFF",
      "_25._tcp.mail.paradigms.test. 300 IN\tRRSIG\tTLSA 13 5 300 20261221000000 20261207000000 12345 paradigms.test. c2lnbmF0dXJl",
      "",
    ].join("\n");

  it("reads each DANE-EE key whole (dig splits the hex), the AD bit and the status; the signature is no key", () => {
    expect(publishedTlsaOf(answer("qr rd ra ad"))).toEqual({
      keys: [
        "aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
      ],
      validated: true,
      status: "NOERROR",
    });
  });

  it("without the AD bit the record is not validated: a DANE sender ignores it", () => {
    expect(publishedTlsaOf(answer("qr rd ra")).validated).toBe(false);
  });

  it("a bogus signature is the resolver's SERVFAIL, with no key", () => {
    expect(publishedTlsaOf(";; ->>HEADER<<- opcode: QUERY, status: SERVFAIL, id: 1\n;; flags: qr rd ra; QUERY: 1, ANSWER: 0\n")).toEqual({
      keys: [],
      validated: false,
      status: "SERVFAIL",
    });
  });
});
