/**
 * One DNS question to one server over UDP, answered in the plan's terms (values and TTL), with a
 * timeout. Messages are encoded and decoded by dns-packet (a small, long-kept RFC 1035 codec),
 * so a drift check needs no resolver library and no `dig` on the machine it runs on.
 */

import { randomInt } from "node:crypto";
import { createSocket } from "node:dgram";
import * as packet from "dns-packet";
import type { RecordType } from "../model/plan";

export interface DnsAnswer {
  /** NOERROR with records, NOERROR without (no data), or NXDOMAIN. */
  status: "answer" | "nodata" | "nxdomain" | "refused" | "servfail";
  /** Whether the server answered with authority (AA). */
  authoritative: boolean;
  ttl?: number;
  /**
   * In the plan's terms: A address, "preference target" for MX, unquoted text for TXT, target for
   * CNAME, "3 1 1 hex" for TLSA; as zone files write them for DNSKEY ("257 3 13 base64") and DS ("tag 13 2 hex").
   */
  values: string[];
  /** Asked with `dnssec`: whether a signature (RRSIG) over the record set came with it. */
  signed?: boolean;
}

export interface QueryOptions {
  port?: number;
  /** Ask for the record set's DNSSEC signatures too (EDNS0 with the DO bit). */
  dnssec?: boolean;
  /** Ask a recursive resolver to find the answer (the RD bit), not only what it holds itself. */
  recursive?: boolean;
}

export class DnsUnreachableError extends Error {
  constructor(
    readonly server: string,
    what: string,
    detail: string,
  ) {
    super(`DNS server ${server} did not answer ${what}: ${detail}`);
    this.name = "DnsUnreachableError";
  }
}

const lower = (s: string) => s.toLowerCase().replace(/\.$/, "");

function answerValue(a: packet.Answer): string | undefined {
  switch (a.type) {
    case "A":
      return a.data as string;
    case "MX": {
      const mx = a.data as { preference: number; exchange: string };
      return `${mx.preference} ${lower(mx.exchange)}`;
    }
    case "CNAME":
    case "NS":
      return lower(a.data as string);
    case "TXT":
      return (a.data as Buffer[]).map((b) => b.toString("utf8")).join("");
    case "DNSKEY": {
      const k = a.data as { flags: number; algorithm: number; key: Buffer };
      return `${k.flags} 3 ${k.algorithm} ${k.key.toString("base64")}`;
    }
    case "DS": {
      const d = a.data as { keyTag: number; algorithm: number; digestType: number; digest: Buffer };
      return `${d.keyTag} ${d.algorithm} ${d.digestType} ${d.digest.toString("hex")}`;
    }
    case "TLSA": {
      const t = a.data as { usage: number; selector: number; matchingType: number; certificate: Buffer };
      return `${t.usage} ${t.selector} ${t.matchingType} ${t.certificate.toString("hex")}`;
    }
    default:
      return undefined;
  }
}

export function queryRecord(
  server: string,
  name: string,
  type: RecordType | "NS" | "DNSKEY" | "DS",
  timeoutMs = 2000,
  { port = 53, dnssec = false, recursive = false }: QueryOptions = {},
): Promise<DnsAnswer> {
  const id = randomInt(0, 65536);
  const question = packet.encode({
    type: "query",
    id,
    flags: recursive ? packet.RECURSION_DESIRED : 0,
    questions: [{ type, name, class: "IN" }],
    ...(dnssec ? { additionals: [{ type: "OPT", name: ".", udpPayloadSize: 4096, flags: packet.DNSSEC_OK }] } : {}),
  } as packet.Packet);
  return new Promise((resolve, reject) => {
    const socket = createSocket("udp4");
    const done = (f: () => void) => {
      clearTimeout(timer);
      socket.close();
      f();
    };
    const timer = setTimeout(
      () => done(() => reject(new DnsUnreachableError(server, `${name} ${type}`, `no answer within ${timeoutMs} ms`))),
      timeoutMs,
    );
    socket.on("error", (e) => done(() => reject(new DnsUnreachableError(server, `${name} ${type}`, e.message))));
    socket.on("message", (msg) => {
      let p: packet.Packet;
      try {
        p = packet.decode(msg);
      } catch {
        return;
      }
      if (p.id !== id) return;
      const rcode = (p as { rcode?: string }).rcode ?? "NOERROR";
      const answers = (p.answers ?? []).filter((a) => a.type === type && lower(a.name) === lower(name));
      const values = answers
        .map(answerValue)
        .filter((v): v is string => v !== undefined)
        .sort();
      const status: DnsAnswer["status"] =
        rcode === "NXDOMAIN"
          ? "nxdomain"
          : rcode === "REFUSED"
            ? "refused"
            : rcode === "SERVFAIL"
              ? "servfail"
              : values.length
                ? "answer"
                : "nodata";
      const authoritative = Boolean(((p.flags ?? 0) >> 10) & 1);
      const signatures = (p.answers ?? []).filter(
        (a) => a.type === "RRSIG" && lower(a.name) === lower(name) && (a.data as { typeCovered?: string }).typeCovered === type,
      );
      done(() =>
        resolve({
          status,
          authoritative,
          values,
          ...(dnssec ? { signed: signatures.length > 0 } : {}),
          ...(answers.length ? { ttl: Math.min(...answers.map((a) => (a as { ttl?: number }).ttl ?? 0)) } : {}),
        }),
      );
    });
    socket.send(question, port, server, (e) => e && done(() => reject(new DnsUnreachableError(server, `${name} ${type}`, e.message))));
  });
}
