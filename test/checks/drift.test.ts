import { describe, expect, it } from "vitest";
import { bounded, driftExitCode, type Finding, renderDriftMarkdown, renderDriftTable, routingDifferences } from "../../src/checks/drift";
import { probe, withTimeout } from "../../src/checks/probes/common";
import { cloudUnmanagedProbes } from "../../src/checks/probes/dns";
import { flowFindings } from "../../src/checks/probes/flows";
import { hostAccessProbes } from "../../src/checks/probes/hosts";
import { plan } from "../../src/model/plan";
import { load } from "../helpers";

const finding = (status: Finding["status"]): Finding => ({ area: "dns", subject: "z.test", check: "z.test A", status });

describe("the drift verdict", () => {
  it.each<[string, Finding["status"][], number]>([
    ["clean when every check is ok", ["ok", "ok"], 0],
    ["drift when one differs", ["ok", "drift"], 1],
    ["could not check when one is unreachable, even beside drift", ["drift", "unreachable", "ok"], 2],
    ["clean with no findings", [], 0],
    ["clean beside notes (records the stack leaves alone)", ["ok", "note"], 0],
    ["drift beside notes", ["note", "drift"], 1],
  ])("%s", (_what, statuses, code) => {
    expect(driftExitCode(statuses.map(finding))).toBe(code);
  });
});

describe("a probe that fails", () => {
  it("reports its server unreachable, never ok", async () => {
    const failing = probe({ area: "smtp", subject: "192.0.2.25:25", check: "greeting" }, () =>
      Promise.reject(new Error("connect ECONNREFUSED\nmore")),
    );
    expect(await failing()).toEqual([
      { area: "smtp", subject: "192.0.2.25:25", check: "greeting", status: "unreachable", actual: "connect ECONNREFUSED" },
    ]);
  });

  it("times out with a message naming what did not answer", async () => {
    await expect(withTimeout(new Promise(() => {}), 20, "routing on legacy")).rejects.toThrow("routing on legacy: no answer within 20 ms");
  });
});

describe("bounded parallelism", () => {
  it("runs at most the limit at once and keeps the order of results", async () => {
    let running = 0;
    let most = 0;
    const tasks = Array.from({ length: 10 }, (_, i) => async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 1));
      running--;
      return i;
    });
    expect(await bounded(tasks, 3)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(most).toBe(3);
  });
});

describe("routing differences", () => {
  it("names what is missing and what is not planned, the first few of each", () => {
    const want = {
      domains: ["a.test"],
      mailboxes: ["u1@a.test", "u2@a.test"],
      relays: [{ recipient: "u3@a.test", nextHop: "192.0.2.20" }],
      trusted: [],
    };
    const have = {
      domains: ["a.test"],
      mailboxes: ["u1@a.test"],
      relays: [{ recipient: "u3@a.test", nextHop: "192.0.2.99" }],
      trusted: ["0.0.0.0/0"],
    };
    expect(routingDifferences(want, have)).toEqual([
      "mailboxes missing: u2@a.test",
      "relays missing: u3@a.test->192.0.2.20",
      "relays not planned: u3@a.test->192.0.2.99",
      "trusted not planned: 0.0.0.0/0",
    ]);
    const many = { ...want, mailboxes: Array.from({ length: 8 }, (_, i) => `u${i}@a.test`) };
    expect(routingDifferences(many, want, 2)[0]).toBe("mailboxes missing: u0@a.test, u3@a.test (+4)");
  });
});

describe("drift reports", () => {
  const report = {
    stack: "s",
    phase: 4,
    startedAt: "2026-11-25T00:00:00.000Z",
    seconds: 1.5,
    findings: [finding("ok"), { ...finding("drift"), expected: "300 a|b", actual: "(none)" }],
    exitCode: 1 as const,
  };

  it("show what is not ok, and a verdict line with the counts", () => {
    const table = renderDriftTable(report);
    expect(table.split("\n")[1]).toMatch(/^DRIFT\s+dns\s+z\.test\s+z\.test A\s+300 a\|b\s+\(none\)$/);
    expect(table.split("\n").at(-1)).toBe("DRIFT: stack s (phase 4), 2 checks, 1 ok, 0 notes, 1 drift, 0 unreachable, 1.50 s");
  });

  it("escape table cells in Markdown", () => {
    expect(renderDriftMarkdown(report)).toContain("| drift | dns | z.test | z.test A | 300 a\\|b | (none) |");
  });
});

describe("the drift check's open-relay probe", () => {
  /** A one-connection SMTP server on loopback that answers RCPT with the given reply. */
  async function fakeServer(rcptReply: string, mailReply = "250 2.1.0 Ok"): Promise<{ port: number; close: () => void }> {
    const { createServer } = await import("node:net");
    const server = createServer((socket) => {
      socket.write("220 mail.api.test ESMTP\r\n");
      socket.on("data", (d) => {
        for (const line of d.toString().split("\r\n").filter(Boolean)) {
          if (/^EHLO/i.test(line)) socket.write("250 legacy.api.test\r\n");
          else if (/^MAIL/i.test(line)) socket.write(`${mailReply}\r\n`);
          else if (/^RCPT/i.test(line)) socket.write(`${rcptReply}\r\n`);
          else if (/^QUIT/i.test(line)) socket.end("221 Bye\r\n");
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return { port: (server.address() as { port: number }).port, close: () => server.close() };
  }

  it.each([
    ["a 5xx is ok: relay refused", "554 5.7.1 Relay access denied", undefined, "ok"],
    ["a 2xx is drift: an open relay", "250 2.1.5 Ok", undefined, "drift"],
    ["a 4xx could not check", "450 4.7.1 Try later", undefined, "unreachable"],
    // Postfix delays client rejections to RCPT: a blocklisted checking host is refused there too.
    [
      "a 5xx of the client, not of relaying, could not check",
      "554 5.7.1 Client host blocked using zen.spamhaus.org",
      undefined,
      "unreachable",
    ],
    ["a refused MAIL FROM could not check", "554 no", "451 4.3.0 Busy", "unreachable"],
  ])("%s", async (_what, rcptReply, mailReply, status) => {
    const { SmtpDialogue } = await import("../../src/checks/smtp-dialogue");
    const { relayFinding } = await import("../../src/checks/probes/smtp");
    const server = await fakeServer(rcptReply, mailReply);
    try {
      const d = await SmtpDialogue.open("127.0.0.1", server.port, 2000);
      await d.command("EHLO t.invalid");
      const f = await relayFinding(d, { area: "smtp", subject: "x", check: "open relay" }, "user1@api.test");
      await d.close();
      expect(f.status).toBe(status);
    } finally {
      server.close();
    }
  });
});

describe("records of existing cloud zones the stack leaves alone", () => {
  const p = plan(load("production", 4), 4);
  const options = (cloudListing?: () => Promise<Record<string, string[]>>) => ({
    stack: "production",
    plan: p,
    inventory: load("production", 4),
    ...(cloudListing ? { cloudListing } : {}),
  });
  const run = async (o: ReturnType<typeof options>) => (await Promise.all(cloudUnmanagedProbes(o).map((x) => x()))).flat();

  it("are listed as notes per zone, and a zone with none is ok: the verdict stays clean", async () => {
    const findings = await run(options(async () => ({ "example.com": ["intranet.example.com A 300 10.0.0.5"], "example.org": [] })));
    expect(findings).toEqual([
      {
        area: "dns",
        subject: "example.com",
        check: "intranet.example.com A",
        status: "note",
        expected: "(not in the plan)",
        actual: "unmanaged: 300 10.0.0.5",
      },
      { area: "dns", subject: "example.org", check: "unmanaged records", status: "ok" },
    ]);
    expect(driftExitCode(findings)).toBe(0);
  });

  it("a zone the listing does not answer for, or a listing that fails, could not be checked", async () => {
    const missing = await run(options(async () => ({ "example.com": [] })));
    expect(missing.map((f) => `${f.subject} ${f.status}`)).toEqual(["example.com ok", "example.org unreachable"]);
    const failed = await run(options(() => Promise.reject(new Error("the engine's preview of production failed: AccessDenied"))));
    expect(failed).toEqual([
      {
        area: "dns",
        subject: "example.com, example.org",
        check: "unmanaged records",
        status: "unreachable",
        actual: "the engine's preview of production failed: AccessDenied",
      },
    ]);
    expect(driftExitCode(failed)).toBe(2);
  });

  it("no listing asked for, or no existing cloud zone: no probe", () => {
    expect(cloudUnmanagedProbes(options())).toEqual([]);
    const pilot = plan(load("pilot", 4), 4);
    expect(cloudUnmanagedProbes({ ...options(async () => ({})), plan: pilot, inventory: load("pilot", 4) })).toEqual([]);
  });
});

describe("the drift check's mail flows (--flows)", () => {
  const flow = (from: "legacy" | "new", recipient: string) => ({ from, recipient, mailboxHost: "internet" as const }) as never;
  it("a flow that did not arrive is mail-flow drift; an open relay or a refusal by the wrong host is drift; whatever the verification could not decide could not be checked", () => {
    const findings = flowFindings({
      phase: 4,
      sendSeconds: 1,
      waitSeconds: 1,
      seconds: 2,
      passed: false,
      undecided: ["451 try later", "posttls-finger: no answer", "2 message(s) still queued on legacy after 15 s"],
      stillQueued: ["2 message(s) still queued on legacy after 15 s"],
      flows: [
        { flow: flow("legacy", "a@x.test"), passed: true, foundIn: ["internet:/m/a"], detail: "in internet's mailbox" },
        { flow: flow("new", "b@x.test"), passed: false, foundIn: [], detail: "nowhere after 20 s" },
      ],
      relays: [
        { server: "198.51.100.25:25", verdict: "refused", passed: true, detail: "554" },
        { server: "198.51.100.10:25", verdict: "open", passed: false, detail: "250" },
        { server: "198.51.100.20:25", verdict: "unknown", passed: false, detail: "451 try later" },
        { server: "198.51.100.26:25", verdict: "refused", passed: false, detail: "554; but answered by legacy, not by new" },
      ],
      tls: [
        { server: "198.51.100.25", name: "mail.x.test", verdict: "verified", passed: true, detail: "published" },
        { server: "198.51.100.20", name: "new.x.test", verdict: "mismatch", passed: false, detail: "other key" },
        { server: "198.51.100.10", name: "legacy.x.test", verdict: "unknown", passed: false, detail: "posttls-finger: no answer" },
      ],
    });
    expect(findings.map((f) => `${f.status} ${f.subject} ${f.severity ?? "-"}`)).toEqual([
      "ok legacy -> a@x.test -",
      "drift new -> b@x.test mail flow",
      "ok 198.51.100.25:25 -",
      "drift 198.51.100.10:25 mail flow",
      "unreachable 198.51.100.20:25 -",
      "drift 198.51.100.26:25 mail flow",
      "ok 198.51.100.25 -",
      "drift 198.51.100.20 mail flow",
      "unreachable 198.51.100.10 -",
      "unreachable probe messages -",
    ]);
    expect(driftExitCode(findings)).toBe(2);
    expect(driftExitCode(findings.filter((f) => f.status !== "unreachable"))).toBe(1);
  });
});

describe("the host checks without SSH", () => {
  it("are one finding that could not check, naming why, never absent from a clean report", async () => {
    const inventory = load("pilot", 4);
    const o = { stack: "pilot", plan: plan(inventory, 4), inventory, sessionUnavailable: "the stack has no cutover:sshPrivateKey secret" };
    const findings = (await Promise.all(hostAccessProbes(o).map((x) => x()))).flat();
    expect(findings.map((f) => `${f.status} ${f.area} ${f.check}: ${f.actual}`)).toEqual([
      "unreachable host hosts over SSH: could not check: the stack has no cutover:sshPrivateKey secret",
    ]);
    expect(driftExitCode(findings)).toBe(2);
    expect(hostAccessProbes({ ...o, session: async () => ({}) as never })).toEqual([]);
  });
});
