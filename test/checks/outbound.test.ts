import { describe, expect, it } from "vitest";
import { loggedDeliveries, outboundVerdict, throughRelay, withBounce } from "../../src/checks/outbound";
import type { OutboundProbe } from "../../src/model/plan";

const id = "cutover-abc-0123abcd@cutover.invalid";
const to = "probe@outside.example";
// As postfix writes them (syslog's or postlogd's prefix, and the journal's -o short).
const cleanup = `Dec  7 08:40:01 legacy postfix/cleanup[1234]: 4ABC123: message-id=<${id}>`;
const line = (relay: string, status: string, reply: string, queueId = "4ABC123") =>
  `Dec  7 08:40:02 legacy postfix/smtp[1240]: ${queueId}: to=<${to}>, relay=${relay}, delay=0.11, delays=0.02/0.01/0.05/0.03, dsn=2.0.0, status=${status} (${reply})`;
const sent = line("relay.isp.test[198.51.100.53]:2525", "sent", "250 2.0.0 Ok: queued as 5DEF456");
const deferred = line(
  "relay.isp.test[198.51.100.53]:2525",
  "deferred",
  "host relay.isp.test[198.51.100.53] said: 451 4.3.0 try again later",
);
const probe: OutboundProbe = { from: "legacy", recipient: to, via: { host: "relay.isp.test", port: 2525 } };

describe("an outbound message followed in the sending host's log", () => {
  it("finds its queue id by its Message-ID, and its deliveries to the recipient only", () => {
    const other = line("mx.other.example[203.0.113.9]:25", "sent", "250 ok", "9ZZZ999");
    expect(loggedDeliveries([cleanup, deferred, other, sent], id, to)).toEqual({
      queueId: "4ABC123",
      deliveries: [
        {
          relay: "relay.isp.test[198.51.100.53]:2525",
          status: "deferred",
          reply: "host relay.isp.test[198.51.100.53] said: 451 4.3.0 try again later",
        },
        { relay: "relay.isp.test[198.51.100.53]:2525", status: "sent", reply: "250 2.0.0 Ok: queued as 5DEF456" },
      ],
    });
    expect(loggedDeliveries([sent], id, to)).toEqual({ deliveries: [] });
    // The journal's -o short lines have the same prefix; a Message-ID's dots are no wildcards.
    expect(loggedDeliveries([cleanup.replace("cutover.invalid", "cutoverXinvalid")], id, to).queueId).toBeUndefined();
  });

  it("passes only a delivery the planned relay took, at its port", () => {
    expect(throughRelay("relay.isp.test[198.51.100.53]:2525", { host: "relay.isp.test", port: 2525 })).toBe(true);
    expect(throughRelay("relay.isp.test[198.51.100.53]:2525", { host: "198.51.100.53", port: 2525 })).toBe(true);
    expect(throughRelay("relay.isp.test[198.51.100.53]:25", { host: "relay.isp.test", port: 2525 })).toBe(false);
    expect(throughRelay("mx.outside.example[203.0.113.9]:25", { host: "relay.isp.test", port: 2525 })).toBe(false);
    expect(throughRelay("none", { host: "relay.isp.test", port: 2525 })).toBe(false);

    const found = (...lines: string[]) => loggedDeliveries([cleanup, ...lines], id, to);
    expect(outboundVerdict(probe, "legacy's maillog", found(deferred, sent))).toMatchObject({
      passed: true,
      detail: `legacy -> ${to}: relay.isp.test[198.51.100.53]:2525 took it: "250 2.0.0 Ok: queued as 5DEF456"`,
    });
    const direct = line("mx.outside.example[203.0.113.9]:25", "sent", "250 ok");
    expect(outboundVerdict(probe, "legacy's maillog", found(direct))).toMatchObject({
      passed: false,
      detail: expect.stringMatching(/took it: "250 ok", not the outbound relay relay\.isp\.test:2525 as planned$/),
    });
    expect(outboundVerdict({ ...probe, via: undefined }, "legacy's maillog", found(direct)).passed).toBe(true);
  });

  it("fails a bounce, and never passes what is not delivered yet or not in the log", () => {
    const bounced = line("relay.isp.test[198.51.100.53]:2525", "bounced", "host relay.isp.test said: 554 5.7.1 Relay access denied");
    expect(outboundVerdict(probe, "legacy's maillog", loggedDeliveries([cleanup, bounced], id, to))).toMatchObject({
      passed: false,
      detail: expect.stringMatching(/bounced, .*554 5\.7\.1 Relay access denied/),
    });
    expect(outboundVerdict(probe, "legacy's maillog", loggedDeliveries([cleanup, deferred], id, to))).toMatchObject({
      passed: false,
      undecided: true,
      detail: expect.stringMatching(/not delivered yet: deferred by .*451 4\.3\.0/),
    });
    expect(outboundVerdict(probe, "legacy's the journal", loggedDeliveries([], id, to))).toMatchObject({
      passed: false,
      undecided: true,
      detail: expect.stringMatching(/has no line for the message/),
    });
  });

  it("fails a delivery whose bounce came back, naming where it is; passes it untouched without one", () => {
    const took = { ...outboundVerdict(probe, "legacy's maillog", loggedDeliveries([cleanup, sent], id, to)), marker: "m" };
    expect(withBounce(took, [])).toBe(took);
    expect(withBounce(took, ["legacy:/mail/example.com/probe/new/1"])).toMatchObject({
      passed: false,
      detail: expect.stringMatching(
        /took it: "250 2\.0\.0 Ok: queued as 5DEF456"; but a bounce of it came back \(legacy:\/mail\/example\.com\/probe\/new\/1\): probe@outside\.example does not take it further on$/,
      ),
    });
  });
});
