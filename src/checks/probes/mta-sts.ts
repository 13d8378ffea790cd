/**
 * MTA-STS as senders see it: each domain's policy fetched over HTTPS from mta-sts.<domain>, as a
 * sender fetches it (certificate verified against Node's roots, plus NODE_EXTRA_CA_CERTS for an
 * organisation's own CA; status 200, text/plain, at most 64 KiB, no redirect),
 * compared with the plan's, and its mx patterns against the MX the plan publishes: a pattern that
 * misses the MX makes every enforcing sender defer the domain's mail.
 */
import { get } from "node:https";
import { mxMatches, parsePolicy } from "../../model/mta-sts";
import { compared, type DriftOptions, type Finding, type Probe, probe, timeoutOf } from "./common";

/** RFC 8461 3.3: a sender reads at most this much of a policy. */
const MAX_POLICY_BYTES = 64 * 1024;

/** The policy at the URL, as a sender fetches it; rejects with what went wrong (a sender would then have none). */
export function fetchPolicy(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: timeoutMs }, (res) => {
      const type = res.headers["content-type"] ?? "";
      if (res.statusCode !== 200 || !/^text\/plain\b/i.test(type)) {
        res.resume();
        reject(new Error(`${url} answered ${res.statusCode} ${type || "(no content type)"}, not 200 text/plain`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_POLICY_BYTES) req.destroy(new Error(`${url} is longer than ${MAX_POLICY_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

/** Each planned policy: served as planned, and naming every MX the plan publishes for its domain. */
export function mtaStsProbes(o: DriftOptions): Probe[] {
  const sts = o.plan.mtaSts;
  if (!sts) return [];
  const mx = (domain: string) =>
    o.plan.zones
      .flatMap((z) => z.records)
      .filter((r) => r.name === domain && r.type === "MX")
      .flatMap((r) => r.values.map((v) => v.split(" ")[1]));
  return sts.policies.map((planned) => {
    const url = `https://mta-sts.${planned.domain}/.well-known/mta-sts.txt`;
    const at = { area: "smtp" as const, subject: url };
    return probe({ ...at, check: "MTA-STS policy" }, async () => {
      const served = await fetchPolicy(url, timeoutOf(o));
      const read = parsePolicy(served);
      const findings: Finding[] = [
        compared({ ...at, check: "MTA-STS policy" }, served === planned.text, oneLine(planned.text), oneLine(served)),
      ];
      if ("error" in read)
        return [...findings, compared({ ...at, check: "MTA-STS mx covers the MX" }, false, mx(planned.domain).join(", "), read.error)];
      const missed = mx(planned.domain).filter((m) => !read.mx.some((p) => mxMatches(p, m)));
      return [
        ...findings,
        compared(
          { ...at, check: "MTA-STS mx covers the MX" },
          missed.length === 0,
          mx(planned.domain).join(", "),
          missed.length
            ? `mx ${read.mx.join(", ")} misses ${missed.join(", ")}: enforcing senders defer the mail of ${planned.domain}`
            : read.mx.join(", "),
        ),
      ];
    });
  });
}

const oneLine = (text: string) => text.trim().replace(/\r?\n/g, "; ");
