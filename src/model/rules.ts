/**
 * The inventory's cross-field rules, named and listed in one place. Each rule returns the
 * problems it finds; a message says what is wrong and how to fix it.
 */
import type { HostRole, Inventory, Phase, Problem } from "./inventory";
import { HOST_ROLES, PHASES } from "./inventory";
import { DEFAULT_LABELS, qualify, zoneFor } from "./names";
import { mailRecords } from "./plan";
import { isSpf, mergeSpf, SPF_LOOKUP_LIMIT, spfLookups } from "./records";

type Checked = Omit<Inventory, "mailboxList">;

export interface Rule {
  name: string;
  /** The problems of the inventory, at the phase the stack is moving to. */
  check(inv: Checked, phase: Phase): Problem[];
}

const problem = (path: string, message: string): Problem => ({ path, message });

function duplicates<T>(items: readonly T[], key: (t: T) => string): Map<string, number[]> {
  const seen = new Map<string, number[]>();
  for (const [i, item] of items.entries()) seen.set(key(item), [...(seen.get(key(item)) ?? []), i]);
  return new Map([...seen].filter(([, idx]) => idx.length > 1));
}

const presentHosts = (inv: Checked) => HOST_ROLES.filter((r) => inv.hosts[r] !== undefined).map((r) => [r, inv.hosts[r]!] as const);

export const RULES: Rule[] = [
  {
    name: "single-post-office-layout-has-one-post-office",
    check: (inv) =>
      inv.layout === "single-post-office" && inv.postOffices.length !== 1
        ? [
            problem(
              "inventory.postOffices",
              `layout single-post-office needs exactly one post office, found ${inv.postOffices.length}: keep one, or use layout post-offices`,
            ),
          ]
        : [],
  },
  {
    name: "smart-host-layout-needs-smart-host",
    check: (inv) => {
      if (inv.layout === "smart-host" && !inv.hosts.smartHost)
        return [
          problem("inventory.hosts.smartHost", "layout smart-host needs a smart host: add hosts.smartHost, or use layout post-offices"),
        ];
      if (inv.layout !== "smart-host" && inv.hosts.smartHost)
        return [
          problem(
            "inventory.hosts.smartHost",
            `a smart host is only routed in layout smart-host, not ${inv.layout}: remove hosts.smartHost or set layout: smart-host`,
          ),
        ];
      return [];
    },
  },
  {
    name: "post-office-names-unique",
    check: (inv) =>
      [...duplicates(inv.postOffices, (p) => p.name)].map(([name, idx]) =>
        problem(
          `inventory.postOffices[${idx[1]}].name`,
          `post office "${name}" is listed ${idx.length} times: give each post office one entry`,
        ),
      ),
  },
  {
    name: "address-spaces-unique-and-distinct",
    check: (inv) => {
      const all = inv.addressSpaces.flatMap((s, i) => [
        { d: s.domain, path: `inventory.addressSpaces[${i}].domain` },
        { d: s.pilotDomain, path: `inventory.addressSpaces[${i}].pilotDomain` },
      ]);
      return [...duplicates(all, (x) => x.d)].map(([d, idx]) =>
        problem(all[idx[1]].path, `domain ${d} is used twice among the address spaces: every production and pilot domain must be distinct`),
      );
    },
  },
  {
    name: "internet-domain-outside-organisation",
    check: (inv) => {
      if (!inv.internet)
        return inv.hosts.internet
          ? [
              problem(
                "inventory.internet",
                "hosts.internet is set but the model Internet has no domain: add internet.domain, such as aegean.test",
              ),
            ]
          : [];
      const clash = inv.addressSpaces.find((s) =>
        [s.domain, s.pilotDomain].some((d) => d === inv.internet!.domain || inv.internet!.domain.endsWith(`.${d}`)),
      );
      const out: Problem[] = [];
      if (clash)
        out.push(
          problem(
            "inventory.internet.domain",
            `the model Internet's domain ${inv.internet.domain} lies inside the organisation's address space ${clash.domain}/${clash.pilotDomain}: outside users need a domain of their own, such as aegean.test`,
          ),
        );
      if (!inv.hosts.internet)
        out.push(
          problem(
            "inventory.hosts.internet",
            "internet.domain is set but there is no model-Internet host: add hosts.internet (the outside SMTP/POP3 host), or remove internet",
          ),
        );
      return out;
    },
  },
  {
    name: "zones-unique",
    check: (inv) =>
      [...duplicates(inv.zones, (z) => z.name)].map(([name, idx]) =>
        problem(`inventory.zones[${idx[1]}].name`, `zone ${name} is listed ${idx.length} times: merge them into one entry`),
      ),
  },
  {
    name: "every-domain-has-a-zone",
    check: (inv) => {
      const zones = inv.zones.map((z) => z.name);
      const need = inv.addressSpaces.flatMap((s, i) => [
        { d: s.domain, path: `inventory.addressSpaces[${i}].domain` },
        { d: s.pilotDomain, path: `inventory.addressSpaces[${i}].pilotDomain` },
      ]);
      if (inv.internet) need.push({ d: inv.internet.domain, path: "inventory.internet.domain" });
      return need
        .filter((n) => !zoneFor(n.d, zones))
        .map((n) => problem(n.path, `no zone holds ${n.d}: add a zone whose name is ${n.d} or a parent of it to zones`));
    },
  },
  {
    name: "pilot-domains-outside-production-zones",
    check: (inv) => {
      const zones = inv.zones.map((z) => z.name);
      const production = new Set(inv.addressSpaces.map((s) => zoneFor(s.domain, zones)));
      return inv.addressSpaces.flatMap((s, i) => {
        const zone = zoneFor(s.pilotDomain, zones);
        return zone && production.has(zone)
          ? [
              problem(
                `inventory.addressSpaces[${i}].pilotDomain`,
                `pilot domain ${s.pilotDomain} lies in zone ${zone}, which holds a production domain: phases 1-3 would change a production zone. Give the pilot domain a zone of its own (add it to zones), such as ${s.domain.split(".")[0]}-pilot.${s.domain.split(".").slice(1).join(".")}`,
              ),
            ]
          : [];
      });
    },
  },
  {
    name: "zone-provider-settings",
    check: (inv) =>
      inv.zones.flatMap((z, i) => {
        const at = `inventory.zones[${i}]`;
        const out: Problem[] = [];
        const route53Id = z.zoneId?.startsWith("Z");
        if (z.provider === "cloudflare" && (!z.zoneId || route53Id))
          out.push(
            problem(
              `${at}.zoneId`,
              `Cloudflare zone ${z.name} needs zoneId, the id of the existing zone (32 hex digits on the zone's overview page)`,
            ),
          );
        if (z.provider === "route53" && !z.zoneId && !z.create)
          out.push(
            problem(
              `${at}.zoneId`,
              `Route 53 zone ${z.name} needs zoneId, the id of the hosted zone that serves it now (Z..., aws route53 list-hosted-zones-by-name --dns-name ${z.name}), or create: true for a new hosted zone, whose NS delegation you then set up`,
            ),
          );
        if (z.provider === "route53" && z.zoneId && !route53Id)
          out.push(
            problem(`${at}.zoneId`, `${z.zoneId} is a Cloudflare zone id; a Route 53 hosted zone id looks like Z0123456789ABCDEFGHIJ`),
          );
        if (z.provider === "route53" && z.zoneId && z.create)
          out.push(
            problem(
              `${at}.create`,
              `zone ${z.name} has a zoneId, so it exists: remove create: true (the stack never makes a second hosted zone for a domain)`,
            ),
          );
        if (z.provider !== "route53" && z.create)
          out.push(problem(`${at}.create`, `create applies only to provider route53, not ${z.provider}: remove it`));
        if (z.provider === "bind" && z.zoneId)
          out.push(problem(`${at}.zoneId`, `zoneId applies only to providers route53 and cloudflare, not bind: remove it`));
        if (z.provider === "bind") {
          if (!z.server)
            out.push(
              problem(
                `${at}.server`,
                `bind zone ${z.name} needs server: the role of the host running its DNS server, such as internet or dnsServer`,
              ),
            );
          else if (!inv.hosts[z.server])
            out.push(
              problem(
                `${at}.server`,
                `bind zone ${z.name} is served by hosts.${z.server}, which is not in the inventory: add it or name another host`,
              ),
            );
          else if (inv.hosts[z.server]!.kind !== "existing")
            out.push(
              problem(
                `${at}.server`,
                `bind zone ${z.name} is served by hosts.${z.server}, an aws host: the bind provider reaches its server by SSH, so that host must be kind existing`,
              ),
            );
        } else if (z.server) out.push(problem(`${at}.server`, `server applies only to provider bind, not ${z.provider}: remove it`));
        return out;
      }),
  },
  {
    name: "extra-records-inside-their-zone",
    check: (inv) =>
      inv.zones.flatMap((z, i) =>
        z.records.flatMap((r, j) => {
          // A dotted name ending in the zone's top-level label is a full name, so it must lie in the zone.
          const tld = z.name.slice(z.name.lastIndexOf(".") + 1);
          const full = r.name.includes(".") && r.name.endsWith(`.${tld}`);
          if (full && !(r.name === z.name || r.name.endsWith(`.${z.name}`)))
            return [
              problem(
                `inventory.zones[${i}].records[${j}].name`,
                `${r.name} is not inside zone ${z.name}: use a name relative to the zone, such as www`,
              ),
            ];
          return [];
        }),
      ),
  },
  {
    name: "cname-not-at-apex",
    check: (inv) =>
      inv.zones.flatMap((z, i) =>
        z.records.flatMap((r, j) =>
          r.type === "CNAME" && qualify(r.name, z.name) === z.name
            ? [
                problem(
                  `inventory.zones[${i}].records[${j}]`,
                  `${z.name} is the zone's apex, which holds its SOA and NS records, so it cannot be a CNAME (RFC 1034 section 3.6.2): remove the CNAME`,
                ),
              ]
            : [],
        ),
      ),
  },
  {
    name: "own-records-distinct",
    check: (inv) =>
      inv.zones.flatMap((z, i) => {
        const own = z.records.map((r, j) => ({ name: qualify(r.name, z.name), type: r.type, path: `inventory.zones[${i}].records[${j}]` }));
        const out = [...duplicates(own, (r) => `${r.name} ${r.type}`)].map(([key, idx]) =>
          problem(own[idx[1]].path, `${key} is also ${own[idx[0]].path}: put all values of one name and type in one record`),
        );
        for (const r of own.filter((x) => x.type === "CNAME")) {
          const beside = own.find((x) => x.name === r.name && x !== r);
          if (beside)
            out.push(
              problem(
                r.path,
                `${r.name} is a CNAME, so it cannot also hold the ${beside.type} record ${beside.path} (RFC 1034 section 3.6.2): keep one`,
              ),
            );
        }
        return out;
      }),
  },
  {
    name: "own-records-do-not-collide-with-the-plan",
    check: (inv) => {
      // Every record the plan writes in any phase, by name: what it is for.
      const planned = new Map<string, { type: string; purpose: string }[]>();
      for (const phase of PHASES)
        for (const r of mailRecords(inv, phase))
          planned.set(r.name, [...(planned.get(r.name) ?? []), { type: r.type, purpose: r.purpose }]);
      return inv.zones.flatMap((z, i) =>
        z.records.flatMap((r, j) => {
          const name = qualify(r.name, z.name);
          const here = planned.get(name) ?? [];
          // TXT is shared: the organisation's values join the plan's, its SPF merged into the plan's.
          const hit = r.type === "CNAME" ? here[0] : r.type === "TXT" ? undefined : here.find((p) => p.type === r.type);
          if (!hit) return [];
          return [
            problem(
              `inventory.zones[${i}].records[${j}]`,
              r.type === "CNAME"
                ? `${name} is a CNAME here, but the plan writes ${hit.purpose} (${hit.type}) at that name, and a CNAME cannot stand beside other records (RFC 1034 section 3.6.2; an MX target must not be an alias, RFC 2181 section 10.3): remove the CNAME or change the plan's name`
                : `${name} ${r.type} is also ${hit.purpose}, which the plan writes and moves at the go-live: remove this record (the plan owns it) or rename the host or post office`,
            ),
          ];
        }),
      );
    },
  },
  {
    name: "post-office-names-are-free",
    check: (inv) => {
      if (inv.layout !== "post-offices") return [];
      const labels = new Map<string, string>([
        [inv.gateway.label, "gateway.label"],
        ...presentHosts(inv)
          .filter(([r]) => r !== "internet")
          .map(([r, h]) => [h.label ?? DEFAULT_LABELS[r], `hosts.${r}.label`] as [string, string]),
      ]);
      const own = inv.zones.flatMap((z) =>
        z.records.filter((r) => r.type !== "TXT").map((r) => ({ name: qualify(r.name, z.name), type: r.type, zone: z.name })),
      );
      return inv.postOffices.flatMap((p, i) => {
        const path = `inventory.postOffices[${i}].name`;
        const host = labels.get(p.name);
        if (host)
          return [
            problem(
              path,
              `post office "${p.name}" has the name of a host (${host}): ${p.name}.<domain> would be both a host and a mail domain; rename the post office or the host`,
            ),
          ];
        const names = inv.addressSpaces.flatMap((s) => [`${p.name}.${s.domain}`, `${p.name}.${s.pilotDomain}`]);
        const taken = own.find((r) => names.includes(r.name));
        return taken
          ? [
              problem(
                path,
                `post office "${p.name}" would be the mail domain ${taken.name}, which already holds the organisation's ${taken.type} record in zone ${taken.zone}: rename the post office or remove that record`,
              ),
            ]
          : [];
      });
    },
  },
  {
    name: "host-addresses-distinct",
    check: (inv) => {
      const addrs = presentHosts(inv).map(([role, h]) => ({ a: h.address, path: `inventory.hosts.${role}.address` }));
      const out = [...duplicates(addrs, (x) => x.a)].map(([a, idx]) =>
        problem(
          addrs[idx[1]].path,
          `${a} is already the address of ${addrs[idx[0]].path.split(".")[2]}: every host needs its own management address`,
        ),
      );
      const clash = addrs.find((x) => x.a === inv.gateway.address);
      if (clash)
        out.push(
          problem(
            "inventory.gateway.address",
            `the gateway's service address ${inv.gateway.address} is also ${clash.path}: the service address floats between hosts, so it must differ from every management address`,
          ),
        );
      return out;
    },
  },
  {
    name: "aws-host-has-one-instance-source",
    check: (inv) =>
      presentHosts(inv).flatMap(([role, h]) => {
        if (h.kind !== "aws") return [];
        if (!h.instanceId === !h.instance)
          return [
            problem(
              `inventory.hosts.${role}`,
              h.instanceId
                ? "give either instanceId (an existing instance) or instance (one the stack creates), not both"
                : "an aws host needs instanceId (an existing instance) or instance {ami, instanceType, subnetId} (one the stack creates)",
            ),
          ];
        return [];
      }),
  },
  {
    name: "model-internet-host-is-reachable-by-ssh",
    check: (inv) =>
      (["internet", "dnsServer", "smartHost"] as HostRole[])
        .filter((r) => inv.hosts[r]?.kind === "aws" && r !== "smartHost")
        .map((r) => problem(`inventory.hosts.${r}.kind`, `hosts.${r} is configured over SSH only: use kind existing`)),
  },
  {
    name: "mta-sts-needs-gateway-tls-and-its-policy-host",
    check: (inv) => {
      const sts = inv.gateway.mtaSts;
      if (!sts) return [];
      const path = "inventory.gateway.mtaSts";
      return [
        ...(inv.gateway.tls
          ? []
          : [
              problem(
                path,
                "an MTA-STS policy makes senders require a certificate that verifies for the MX name, and cutover serves the gateway's only with gateway.tls: add gateway.tls, or remove gateway.mtaSts",
              ),
            ]),
        ...(inv.layout === "smart-host"
          ? [
              problem(
                path,
                "with layout smart-host the MX is the smart host, whose certificate cutover does not serve: publish its MTA-STS policy where the smart host is run, and remove gateway.mtaSts",
              ),
            ]
          : []),
        ...(inv.hosts[sts.policyHost]
          ? []
          : [
              problem(
                `${path}.policyHost`,
                `the policy is served by hosts.${sts.policyHost}, which the inventory does not list: add hosts.${sts.policyHost}, or name a listed host`,
              ),
            ]),
      ];
    },
  },
  {
    name: "phase-5-needs-go-live-strategy",
    check: (inv, phase) =>
      phase === 5 && !inv.goLive
        ? [
            problem(
              "inventory.goLive",
              "phase 5 moves the gateway identity but no strategy is set: add goLive.strategy (eip, readdress or mx)",
            ),
          ]
        : [],
  },
  {
    name: "eip-strategy-needs-aws-gateways",
    check: (inv) => {
      if (inv.goLive?.strategy !== "eip") return [];
      const out = (["legacy", "new"] as const)
        .filter((r) => inv.hosts[r].kind !== "aws")
        .map((r) =>
          problem(
            `inventory.hosts.${r}.kind`,
            `goLive.strategy eip moves an Elastic IP between EC2 instances, but hosts.${r} is kind ${inv.hosts[r].kind}: make both gateways kind aws, or use strategy readdress`,
          ),
        );
      if (!inv.gateway.allocationId)
        out.push(
          problem(
            "inventory.gateway.allocationId",
            "goLive.strategy eip needs the allocation id of the gateway's Elastic IP (eipalloc-...): the stack moves it, never allocates or releases it",
          ),
        );
      return out;
    },
  },
  {
    name: "readdress-strategy-needs-ssh-gateways",
    check: (inv) =>
      inv.goLive?.strategy !== "readdress"
        ? []
        : (["legacy", "new"] as const)
            .filter((r) => inv.hosts[r].kind !== "existing")
            .map((r) =>
              problem(
                `inventory.hosts.${r}.kind`,
                `goLive.strategy readdress moves the address over SSH, but hosts.${r} is kind aws: use strategy eip for aws gateways`,
              ),
            ),
  },
  {
    name: "allocation-id-only-for-eip",
    check: (inv) =>
      inv.gateway.allocationId && inv.goLive?.strategy !== "eip"
        ? [
            problem(
              "inventory.gateway.allocationId",
              `allocationId is used only by goLive.strategy eip (strategy is ${inv.goLive?.strategy ?? "unset"}): remove it or set goLive.strategy: eip`,
            ),
          ]
        : [],
  },
  {
    name: "mx-switch-ttl-below-record-ttl",
    check: (inv) =>
      inv.ttl.mxSwitch > inv.ttl.records
        ? [
            problem(
              "inventory.ttl.mxSwitch",
              `the lowered MX TTL (${inv.ttl.mxSwitch} s) is above the normal TTL (${inv.ttl.records} s): lowering means smaller; use ${Math.min(300, inv.ttl.records)}`,
            ),
          ]
        : [],
  },
  {
    name: "host-labels-distinct",
    check: (inv) => {
      const names = [
        { n: inv.gateway.label, path: "inventory.gateway.label" },
        ...presentHosts(inv)
          .filter(([r]) => r !== "internet")
          .map(([r, h]) => ({ n: h.label ?? DEFAULT_LABELS[r], path: `inventory.hosts.${r}.label` })),
      ];
      return [...duplicates(names, (x) => x.n)].map(([n, idx]) =>
        problem(
          names[idx[1]].path,
          `host name label "${n}" is already taken by ${names[idx[0]].path.replace("inventory.", "")}: every host and the gateway need distinct names`,
        ),
      );
    },
  },
];

/** The rules of SPF: every direct sender named, one record under the lookup limit. */
RULES.push(
  {
    name: "direct-senders-have-a-public-address",
    check: (inv) =>
      inv.outboundRelay
        ? []
        : (["legacy", "new"] as const)
            .filter((r) => inv.hosts[r].kind === "aws" && !inv.hosts[r].egressAddress)
            .map((r) =>
              problem(
                `inventory.hosts.${r}.egressAddress`,
                `hosts.${r} is an EC2 instance that sends mail to the Internet itself (no outboundRelay), and its address ${inv.hosts[r].address} is private: give egressAddress, the public address its connections leave from (its public IP or the NAT gateway's), so the SPF record names it, or send through outboundRelay`,
              ),
            ),
  },
  {
    name: "spf-under-the-lookup-limit",
    check: (inv, phase) => {
      if (phase < 2) return [];
      const planned = mailRecords(inv, phase).filter((r) => r.type === "TXT" && r.values.some(isSpf));
      return planned.flatMap((r) => {
        const zone = inv.zones.find(
          (z) =>
            z.name ===
            zoneFor(
              r.name,
              inv.zones.map((x) => x.name),
            ),
        );
        const i = zone?.records.findIndex((o) => o.type === "TXT" && qualify(o.name, zone.name) === r.name) ?? -1;
        const own = i >= 0 ? zone!.records[i].values.find(isSpf) : undefined;
        const ours = r.values.find(isSpf)!;
        const merged = own ? mergeSpf(ours, own) : ours;
        const lookups = spfLookups(merged);
        if (lookups.length <= SPF_LOOKUP_LIMIT) return [];
        const path = own ? `inventory.zones[${inv.zones.indexOf(zone!)}].records[${i}]` : "inventory.outboundRelay.spf";
        return [
          problem(
            path,
            `the SPF record of ${r.name} would need ${lookups.length} DNS lookups (${lookups.join(" ")}), more than the ${SPF_LOOKUP_LIMIT} receivers allow (RFC 7208 4.6.4: every message then fails SPF): replace includes by the addresses they name (ip4:), or drop senders that no longer send`,
          ),
        ];
      });
    },
  },
);

export function checkRules(inv: Checked, phase: Phase): Problem[] {
  return RULES.flatMap((r) => r.check(inv, phase));
}
