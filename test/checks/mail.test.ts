import { describe, expect, it } from "vitest";
import { queuedWithRecipients, receivedThrough, relayVerdict } from "../../src/checks/mail";
import { waitingReasons } from "../../src/checks/verify";

/** A swaks transcript: the server's replies, its error replies, the client's commands. */
const transcript = (...lines: string[]) => ["=== Trying 192.0.2.25:25...", ...lines].join("\n");
const greeting = "<-  220 mail.api.test ESMTP";
const ehlo = [" -> EHLO probe.invalid", "<-  250 mail.api.test"];
const mail = [" -> MAIL FROM:<probe@relay-test.invalid>", "<-  250 2.1.0 Ok"];
const rcpt = " -> RCPT TO:<relay-probe@elsewhere.invalid>";

describe("the open-relay verdict", () => {
  it.each<[string, string, number, string, string]>([
    [
      "5xx at RCPT: refuses to relay",
      transcript(greeting, ...ehlo, ...mail, rcpt, "<** 554 5.7.1 Relay access denied"),
      24,
      "refused",
      "554 5.7.1 Relay access denied",
    ],
    ["2xx at RCPT: an open relay", transcript(greeting, ...ehlo, ...mail, rcpt, "<-  250 2.1.5 Ok"), 0, "open", "250 2.1.5 Ok"],
    [
      "4xx at RCPT: try later, cannot tell",
      transcript(greeting, ...ehlo, ...mail, rcpt, "<** 450 4.7.1 Relay deferred"),
      24,
      "unknown",
      "RCPT answered 450 4.7.1 Relay deferred",
    ],
    [
      "connection refused: cannot tell",
      "*** Error connecting to 192.0.2.25:25:\n***\tIO::Socket::INET6: connect: Connection refused",
      2,
      "unknown",
      "no greeting: Error connecting to 192.0.2.25:25: IO::Socket::INET6: connect: Connection refused",
    ],
    [
      "a timeout waiting for the greeting",
      transcript("*** Timeout (10 secs) waiting for server response"),
      21,
      "unknown",
      "no greeting: Timeout (10 secs) waiting for server response",
    ],
    ["a 421 greeting", transcript("<** 421 4.3.2 Service shutting down"), 21, "unknown", "no greeting: 421 4.3.2 Service shutting down"],
    [
      "MAIL FROM refused",
      transcript(greeting, ...ehlo, " -> MAIL FROM:<probe@relay-test.invalid>", "<** 553 5.1.8 Sender address rejected"),
      23,
      "unknown",
      "MAIL FROM not accepted: 553 5.1.8 Sender address rejected",
    ],
    ["swaks missing on the testing host", "sh: 1: swaks: not found", 127, "unknown", "swaks is not installed on the testing host"],
    [
      "a connection that failed with an odd errno: the server's failure, not a missing tool",
      transcript(
        "=== Trying 198.51.100.25:25...",
        "*** Error connecting to 198.51.100.25:25:",
        "*** \tIO::Socket::INET: connect: No such file or directory",
      ),
      0,
      "unknown",
      "no greeting: Error connecting to 198.51.100.25:25: IO::Socket::INET: connect: No such file or directory",
    ],
  ])("%s", (_what, text, code, verdict, detail) => {
    expect(relayVerdict(text, code)).toEqual({ verdict, detail });
  });
});

describe("a message's Received path", () => {
  // As postfix writes them: the last hop first.
  const viaRelay = [
    "Received: from relay.isp.test (internet.lab.invalid [198.51.100.53]) by mx.aegean.test (Postfix) with ESMTP id 1A2B",
    "Received: from mail.api.test (legacy.lab.invalid [198.51.100.10]) by relay.isp.test (Postfix) with ESMTP id 3C4D",
    "Received: by legacy.lab.invalid (Postfix, from userid 0) id 5E6F",
  ];
  const direct = ["Received: from mail.api.test (legacy.lab.invalid [198.51.100.10]) by internet.lab.invalid (Postfix) with ESMTP id 3C4D"];

  it("shows a relay by its name after by or from, and a host by the [address] its next hop recorded", () => {
    expect(receivedThrough(viaRelay, "relay.isp.test")).toBe(true);
    expect(receivedThrough(viaRelay, "198.51.100.53")).toBe(true);
    expect(receivedThrough(direct, "relay.isp.test")).toBe(false);
    expect(receivedThrough(direct, "198.51.100.53")).toBe(false);
  });

  it("does not take a longer name or a longer address for the host", () => {
    expect(receivedThrough(["Received: from x by relay.isp.test.evil.test (Postfix)"], "relay.isp.test")).toBe(false);
    expect(receivedThrough(["Received: from x by relay.isp.testing (Postfix)"], "relay.isp.test")).toBe(false);
    expect(receivedThrough(["Received: from x (y [198.51.100.530]) by z"], "198.51.100.53")).toBe(false);
    expect(receivedThrough([], "relay.isp.test")).toBe(false);
  });
});

describe("a message of ours still queued", () => {
  const entry = (id: string, recipients: string[], reason = "") =>
    JSON.stringify({
      queue_name: "active",
      queue_id: id,
      arrival_time: 1_795_000_000,
      message_size: 347,
      forced_expire: false,
      sender: "user1@paradigms.test",
      recipients: recipients.map((address) => ({ address, delay_reason: reason })),
    });

  it("counts the matched queue files that still have a recipient, not those whose every recipient is done", () => {
    const report = [entry("634A5D4657", []), entry("7B01CD4660", ["user4@paradigms.test"]), entry("9C11AD4661", ["x@y.test"])];
    expect(queuedWithRecipients(["634A5D4657", "7B01CD4660", "--", ...report].join("\n"))).toEqual([
      { queueId: "7B01CD4660", waiting: ["user4@paradigms.test: (being delivered)"] },
    ]);
  });

  it("says why each recipient waits, as postfix's queue report says it", () => {
    const suspended =
      "delivery temporarily suspended: lost connection with mail.paradigms.test[198.51.100.25] while receiving the initial server greeting";
    const queued = queuedWithRecipients(
      [
        "7B01CD4660",
        "9C11AD4661",
        "--",
        entry("7B01CD4660", ["user1@paradigms.test", "user4@paradigms.test"], suspended),
        entry("9C11AD4661", ["user2@paradigms.test"], suspended),
      ].join("\n"),
    );
    expect(queued.map((q) => q.waiting)).toEqual([
      [`user1@paradigms.test: ${suspended}`, `user4@paradigms.test: ${suspended}`],
      [`user2@paradigms.test: ${suspended}`],
    ]);
    expect(waitingReasons(queued)).toBe(`3 x "${suspended}"`);
  });

  it("does not count a matched file the queue report no longer lists (delivered in between), nor other mail", () => {
    expect(queuedWithRecipients(["5F492D4655", "--", entry("9C11AD4661", ["x@y.test"])].join("\n"))).toEqual([]);
    expect(queuedWithRecipients("")).toEqual([]);
  });
});
