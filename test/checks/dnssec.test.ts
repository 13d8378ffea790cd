import { describe, expect, it } from "vitest";
import { delegationProblem, dsRecord, keyTag } from "../../src/checks/dnssec";

// RFC 4034 5.4's key and its DS records (SHA-1 there; SHA-256 in RFC 4509 2.3), as zone files write them.
const ZONE = "dskey.example.com";
const KEY =
  "256 3 5 AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMmmAphXdvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw==";
const DS_SHA1 = "60485 5 1 2bb183af5f22588179a53b0a98631fad1a292118";
const DS_SHA256 = "60485 5 2 d4b7d520e7bb5f0f67674a0cceb1e3e0614b93c4f9e99b8383f6a1e4469da50a";
/** The same key as a key-signing key (flags 257): a DS names only those. */
const KSK = KEY.replace(/^256 /, "257 ");

describe("a zone's DS record", () => {
  it("is computed as the RFCs' examples give it: key tag, SHA-1 and SHA-256 digests", () => {
    expect(keyTag(KEY)).toBe(60485);
    expect(dsRecord(ZONE, KEY, 1)).toBe(DS_SHA1);
    expect(dsRecord(ZONE, KEY)).toBe(DS_SHA256);
    // The owner name is canonical: case and a trailing dot change nothing.
    expect(dsRecord("DSKEY.Example.COM.", KEY)).toBe(DS_SHA256);
  });
});

describe("a signed zone's delegation", () => {
  const ksk = dsRecord(ZONE, KSK);

  it("is sound when a DS at the parent matches a key-signing key, by any digest type", () => {
    expect(delegationProblem(ZONE, [KSK, KEY], [ksk])).toBeUndefined();
    expect(delegationProblem(ZONE, [KSK], [dsRecord(ZONE, KSK, 1), "1 13 2 00"])).toBeUndefined();
  });

  it("is DANE silently off when the parent publishes no DS, and names the DS to publish", () => {
    expect(delegationProblem(ZONE, [KSK, KEY], [])).toBe(
      `signed, but the parent publishes no DS record: validating resolvers treat ${ZONE} as unsigned, so DANE is silently off; publish ${ksk} at the registrar`,
    );
  });

  it("is bogus when no DS matches a key-signing key: a DS of a zone-signing key or of an old key", () => {
    for (const ds of [[DS_SHA256], [`${ksk.slice(0, -4)}0000`]])
      expect(delegationProblem(ZONE, [KSK, KEY], ds)).toMatch(
        new RegExp(
          `^the parent's DS \\(key tag 60\\d+\\) matches none of the zone's key-signing keys \\(tag ${keyTag(KSK)}\\): validating resolvers fail`,
        ),
      );
  });

  it("is no problem for an unsigned zone without DS, and bogus for an unsigned zone with one", () => {
    expect(delegationProblem(ZONE, [], [])).toBeUndefined();
    expect(delegationProblem(ZONE, [], [DS_SHA256])).toContain("for an unsigned zone");
  });
});
