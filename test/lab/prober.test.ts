import { describe, expect, it } from "vitest";
import { outageWindow, type Sample } from "../../lab/prober";
import { deferralReasons } from "../../lab/zero-loss";

const probe = (t: number, server?: string, g = t + 2): Sample => (server ? { t, g, banner: "220 mail.api.test ESMTP", server } : { t });

describe("outage window of a switch", () => {
  it("runs from the old server's last greeting to the new server's first, counting the silent probes", () => {
    const samples = [probe(0, "legacy.x"), probe(20, "legacy.x"), probe(40), probe(60), probe(80, "new.x"), probe(100, "new.x")];
    expect(outageWindow(samples, "legacy.x", "new.x")).toEqual({
      lastOld: 22,
      firstNew: 82,
      outageMs: 60,
      overlaps: 0,
      unanswered: 2,
      drainMs: 0,
      refusedAtData: 0,
    });
  });

  it("is the longest silence over the whole run: a gap after the new server's first greeting counts", () => {
    // Recorded shape of a bad switch: one early greeting from the new server, then 5 s of nothing.
    const samples = [
      probe(0, "legacy.x"),
      probe(20, "legacy.x"),
      probe(60, "new.x"),
      ...Array.from({ length: 250 }, (_, i) => probe(80 + i * 20)),
      probe(5080, "new.x"),
    ];
    const w = outageWindow(samples, "legacy.x", "new.x");
    expect(w.outageMs).toBe(5020);
    expect(w.firstNew! - w.lastOld!).toBe(40);
  });

  it("stamps at the greeting, not at the probe's start", () => {
    const samples = [probe(0, "legacy.x", 5), probe(20, "legacy.x", 25), probe(40, "new.x", 900), probe(900, "new.x", 905)];
    expect(outageWindow(samples, "legacy.x", "new.x").outageMs).toBe(875);
  });

  it("counts the old server's greetings after the new one's first: both answering at once", () => {
    const samples = [probe(0, "legacy.x"), probe(20, "new.x"), probe(40, "legacy.x"), probe(60, "new.x"), probe(80, "legacy.x")];
    expect(outageWindow(samples, "legacy.x", "new.x")).toMatchObject({ overlaps: 2, firstNew: 22 });
  });

  it("sees no outage when the new server never greeted: no switch happened", () => {
    expect(outageWindow([probe(0, "legacy.x"), probe(20, "legacy.x")], "legacy.x", "new.x").outageMs).toBeUndefined();
  });
});

describe("who held the address when", () => {
  it("lists the greetings at which the answering server changed, by greeting time", async () => {
    const { greetingChanges } = await import("../../lab/zero-loss");
    const samples = [
      probe(0, "legacy.x"),
      probe(20, "legacy.x"),
      probe(40),
      probe(60, "new.x", 70),
      probe(80, "legacy.x", 65),
      probe(100, "legacy.x"),
    ];
    expect(greetingChanges(samples)).toEqual([
      { server: "legacy.x", t: 2 },
      { server: "new.x", t: 70 },
      { server: "legacy.x", t: 102 },
    ]);
  });
});

describe("the drain, as DATA probes see it", () => {
  it("is the span of 421s at DATA, and counts them", () => {
    const data = (t: number, code: string): Sample => ({ ...probe(t, "legacy.x"), data: code });
    const samples = [
      data(0, "354"),
      data(100, "421"),
      probe(120, "legacy.x"),
      data(200, "421"),
      data(300, "421"),
      probe(320, "new.x"),
      data(400, "354"),
    ];
    expect(outageWindow(samples, "legacy.x", "new.x")).toMatchObject({ drainMs: 200, refusedAtData: 3 });
  });

  it("is zero when no probe was refused", () => {
    expect(outageWindow([probe(0, "legacy.x"), probe(20, "new.x")], "legacy.x", "new.x")).toMatchObject({ drainMs: 0, refusedAtData: 0 });
  });
});

describe("the outside sender's deferrals of a run", () => {
  it("groups its maillog's deferrals by reason, addresses and queue ids blanked, and ignores every other line", () => {
    const line = (id: string, to: string, why: string) =>
      `Nov 26 09:41:02 internet postfix/smtp[4121]: ${id}: to=<${to}>, relay=mail.paradigms.test[198.51.100.25]:25, delay=1.2, status=deferred (${why})`;
    const moving = (ip: string) =>
      `host mail.paradigms.test[${ip}] said: 421 4.3.2 <DATA>: Data command rejected: This address is moving to another server: try again in a moment (in reply to DATA command)`;
    const lines = [
      line("4A1B2C3D4E", "user1@paradigms.test", moving("198.51.100.25")),
      "Nov 26 09:41:02 internet postfix/smtp[4122]: 5B1B2C3D4E: to=<user4@paradigms.test>, status=sent (250 2.0.0 Ok)",
      line("6C1B2C3D4E", "user4@paradigms.test", moving("198.51.100.25")),
      line(
        "7D1B2C3D4E",
        "user2@paradigms.test",
        "delivery temporarily suspended: connect to mail.paradigms.test[198.51.100.25]:25: Connection timed out",
      ),
    ];
    expect(deferralReasons(lines)).toBe(
      [`2 x ${moving("…")}`, "1 x delivery temporarily suspended: connect to mail.paradigms.test[…]: Connection timed out"].join("\n    "),
    );
    expect(deferralReasons(lines.filter((l) => !l.includes("deferred")))).toBe("(none)");
  });
});
