import { describe, expect, it } from "vitest";
import {
  enteredAt,
  queuedWithRecipients,
  receivedBy,
  receivedThrough,
  relayVerdict,
  searchFailure,
  stsNotApplied,
} from "../../src/checks/mail";
import { answererProblem, entryProblem, waitingReasons } from "../../src/checks/verify";
import type { HostRole } from "../../src/model/inventory";
import type { MailFlow } from "../../src/model/plan";

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
    const v = relayVerdict(text, code);
    expect({ verdict: v.verdict, detail: v.detail }).toEqual({ verdict, detail });
  });

  it("names the server by its EHLO reply", () => {
    expect(relayVerdict(transcript(greeting, ...ehlo, ...mail, rcpt, "<** 554 5.7.1 Relay access denied"), 24).answeredAs).toBe(
      "mail.api.test",
    );
    expect(relayVerdict(transcript(greeting, " -> EHLO probe.invalid", "<-  250-Legacy.API.test", "<-  250 8BITMIME"), 24).answeredAs).toBe(
      "legacy.api.test",
    );
  });

  // Postfix delays client, HELO and sender rejections to RCPT (smtpd_delay_reject): a 5xx there says
  // nothing of relaying unless it says so, or a mailbox the server serves was taken in the same session.
  const control = "user1@api.test";
  const controlRcpt = ` -> RCPT TO:<${control}>`;
  it.each<[string, string[], "refused" | "unknown", string]>([
    [
      "an RBL listing of the testing host",
      [rcpt, "<** 554 5.7.1 Service unavailable; Client host [192.0.2.9] blocked using zen.spamhaus.org"],
      "unknown",
      "RCPT refused with 554 5.7.1 Service unavailable",
    ],
    [
      "a HELO name it rejects",
      [rcpt, "<** 504 5.5.2 <probe>: Helo command rejected: need fully-qualified hostname"],
      "unknown",
      "RCPT refused with 504 5.5.2",
    ],
    [
      "a sender it rejects",
      [rcpt, "<** 550 5.1.8 <probe@relay-test.invalid>: Sender address rejected: Domain not found"],
      "unknown",
      "no control recipient was asked",
    ],
    [
      "a refusal after the control was taken",
      [controlRcpt, "<-  250 2.1.5 Ok", rcpt, "<** 554 5.7.1 <relay-probe@elsewhere.invalid>: Recipient address rejected: Access denied"],
      "refused",
      "554 5.7.1",
    ],
    [
      "a refusal of the control too",
      [controlRcpt, "<** 550 5.1.8 Sender address rejected", rcpt, "<** 550 5.1.8 Sender address rejected"],
      "unknown",
      "the control recipient, a mailbox it serves, was refused too (550 5.1.8",
    ],
    [
      "relay access denied, whatever the control",
      [controlRcpt, "<** 550 5.1.1 User unknown", rcpt, "<** 554 5.7.1 <relay-probe@elsewhere.invalid>: Relay access denied"],
      "refused",
      "Relay access denied",
    ],
  ])("%s", (_what, lines, verdict, detail) => {
    const asked = lines[0] === controlRcpt ? { control } : {};
    const v = relayVerdict(transcript(greeting, ...ehlo, ...mail, ...lines), 24, asked);
    expect(v.verdict).toBe(verdict);
    expect(v.detail).toContain(detail);
    if (asked.control) expect(v.controlReply).toBe(lines[1].replace(/^<(-|\*\*)\s+/, ""));
  });
});

describe("who answers the gateway address", () => {
  const names = new Map<HostRole, string>([
    ["legacy", "legacy.api.test"],
    ["new", "new.api.test"],
    ["internet", "mx.aegean.test"],
  ]);
  it("passes only for the planned holder's own name", () => {
    expect(answererProblem("new", "new.api.test", names)).toBeUndefined();
    expect(answererProblem("new", "legacy.api.test", names)).toBe(
      "the gateway address is answered by legacy (legacy.api.test), not by new (new.api.test) as planned",
    );
    expect(answererProblem("legacy", "mail.elsewhere.test", names)).toContain("mail.elsewhere.test, none of the stack's hosts");
    expect(answererProblem("new", undefined, names)).toContain("gave no name in its EHLO reply");
    expect(answererProblem("smartHost", "new.api.test", names)).toContain("could not be read");
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

describe("where a message entered the organisation", () => {
  // From outside through the legacy gateway to the new server, as postfix writes them: newest first.
  const throughLegacy = [
    "Received: from legacy.paradigms.com (legacy.paradigms.com [198.51.100.10]) by new.paradigms.com (Postfix) with ESMTP id 7G8H",
    "Received: from mx.aegean.test (mx.aegean.test [198.51.100.53]) by legacy.paradigms.com (Postfix) with ESMTPS id 3C4D",
    "Received: by mx.aegean.test (Postfix, from userid 0) id 5E6F",
  ];

  it("is the writer of the earliest header the sending host did not write", () => {
    expect(enteredAt(throughLegacy, "mx.aegean.test")).toBe("legacy.paradigms.com");
    expect(enteredAt(throughLegacy.slice(0, 1), "mx.aegean.test")).toBe("new.paradigms.com");
  });

  it("is the last hop's writer when the mailbox host took it in itself, and unknown without a header", () => {
    const direct = [
      "Received: from mx.aegean.test (mx.aegean.test [198.51.100.53]) by new.paradigms.com (Postfix) with ESMTPS id 1A2B",
      "Received: by mx.aegean.test (Postfix, from userid 0) id 5E6F",
    ];
    expect(enteredAt(direct, "MX.aegean.test")).toBe("new.paradigms.com");
    expect(enteredAt(["Received: by mx.aegean.test (Postfix, from userid 0) id 5E6F"], "mx.aegean.test")).toBeUndefined();
    expect(enteredAt([], "mx.aegean.test")).toBeUndefined();
  });

  it("reads the by clause, not a name that only contains 'by'", () => {
    expect(receivedBy("Received: from nearby.example (nearby.example [192.0.2.1]) by mail.example.com (Postfix) id 1")).toBe(
      "mail.example.com",
    );
    expect(receivedBy("Received: by mx.aegean.test (Postfix, from userid 0) id 5E6F")).toBe("mx.aegean.test");
    expect(receivedBy("Received: from x (y [192.0.2.1])")).toBeUndefined();
  });
});

describe("a message from outside proves its entry host", () => {
  const names = new Map<HostRole, string>([
    ["internet", "mx.aegean.test"],
    ["legacy", "legacy.paradigms.com"],
    ["new", "new.paradigms.com"],
  ]);
  const flow: MailFlow = { recipient: "user1@paradigms.com", from: "outside", entry: "new", mailboxHost: "new" };
  const pickup = "Received: by mx.aegean.test (Postfix, from userid 0) id 5E6F";
  const takenBy = (host: string) =>
    `Received: from mx.aegean.test (mx.aegean.test [198.51.100.53]) by ${host} (Postfix) with ESMTPS id 3C4D`;

  it("passes when the planned holder took it from the outside sender", () => {
    expect(entryProblem(flow, [takenBy("new.paradigms.com"), pickup], names, "mx.aegean.test")).toBeUndefined();
  });

  it("names the host that took it when the go-live did not happen (the legacy gateway split-delivered it)", () => {
    const split = [
      "Received: from legacy.paradigms.com (...) by new.paradigms.com (Postfix) id 7G8H",
      takenBy("legacy.paradigms.com"),
      pickup,
    ];
    expect(entryProblem(flow, split, names, "mx.aegean.test")).toBe(
      "it entered at legacy (legacy.paradigms.com), not at new (new.paradigms.com) as planned",
    );
  });

  it("fails when no header shows the entry, or the writer is none of the stack's hosts", () => {
    expect(entryProblem(flow, [pickup], names, "mx.aegean.test")).toMatch(/^no Received header shows where it entered/);
    expect(entryProblem(flow, [takenBy("mx.evil.test"), pickup], names, "mx.aegean.test")).toMatch(
      /entered at mx\.evil\.test, none of the stack's hosts/,
    );
    expect(entryProblem(flow, [takenBy("new.paradigms.com")], new Map(), "mx.aegean.test")).toMatch(/could not be read/);
    expect(entryProblem(flow, [takenBy("new.paradigms.com")], names, undefined)).toMatch(/no name for the outside host/);
  });

  it("takes the first organisation host as the entry of a message sent over SMTP from here (no header of its sender)", () => {
    const fromHere = "Received: from operator.example (unknown [198.51.100.2]) by new.paradigms.com (Postfix) with ESMTPS id 9A0B";
    expect(entryProblem(flow, [fromHere], names, "")).toBeUndefined();
    const split = [
      "Received: from legacy.paradigms.com (...) by new.paradigms.com (Postfix) id 7G8H",
      fromHere.replace("by new", "by legacy"),
    ];
    expect(entryProblem(flow, split, names, "")).toBe(
      "it entered at legacy (legacy.paradigms.com), not at new (new.paradigms.com) as planned",
    );
  });
});

describe("a search of a live mail store", () => {
  it.each<[string, { code: number; stderr: string }, string | undefined]>([
    ["found: no failure", { code: 0, stderr: "" }, undefined],
    ["none found: no failure", { code: 1, stderr: "" }, undefined],
    [
      "a file renamed from tmp/ into new/ while grep walked: no failure",
      { code: 2, stderr: "grep: /var/mail/vhosts/x.test/a/tmp/1.M1: No such file or directory\n" },
      undefined,
    ],
    [
      "a mailbox that has had no mail: no failure",
      { code: 2, stderr: "grep: /var/mail/vhosts/x.test/b/: No such file or directory\n" },
      undefined,
    ],
    [
      "a directory it cannot read: a failure, never 'not here'",
      { code: 2, stderr: "grep: /var/mail/vhosts/x.test/a/new: Permission denied\n" },
      "grep exited 2: grep: /var/mail/vhosts/x.test/a/new: Permission denied",
    ],
    ["grep killed: a failure", { code: 137, stderr: "" }, "grep exited 137: no message"],
  ])("%s", (_what, r, failure) => {
    expect(searchFailure(r)).toBe(failure);
  });
});

describe("whether an enforcing sender applied a domain's MTA-STS policy", () => {
  const at = { transport: "smtp-sts", map: "socketmap:inet:127.0.0.1:8461:postfix" };
  const mx = ["mail.paradigms.test", "*.backup.paradigms.test"];

  it("applies it when its map answers secure with every MX the policy names", () => {
    expect(
      stsNotApplied({ ...at, policy: "secure match=mail.paradigms.test:.backup.paradigms.test servername=hostname" }, "paradigms.test", mx),
    ).toBeUndefined();
  });

  it("does not when the map has no policy for the domain: the message came by the default TLS", () => {
    expect(stsNotApplied({ ...at, policy: "" }, "paradigms.test", mx)).toBe(
      "the sender applied no MTA-STS policy for paradigms.test (transport smtp-sts, policy map socketmap:inet:127.0.0.1:8461:postfix has none for it): the message came by the sender's default TLS, so MTA-STS is not shown",
    );
    expect(stsNotApplied({ transport: "smtp", map: "", policy: "" }, "paradigms.test", mx)).toContain(
      "(transport smtp, no TLS policy map)",
    );
  });

  it("does not when the answer is no secure level, or misses an MX of the published policy", () => {
    expect(stsNotApplied({ ...at, policy: "dane" }, "paradigms.test", mx)).toContain('is "dane"');
    expect(stsNotApplied({ ...at, policy: "secure match=mail.paradigms.test servername=hostname" }, "paradigms.test", mx)).toContain(
      "it misses .backup.paradigms.test of the published policy",
    );
  });
});
