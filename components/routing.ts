import { createHash } from "node:crypto";
import type { RoutingTable } from "./plan";

/** Content digest of a routing table: equal tables, equal digests (the plan sorts its entries). */
export function routingDigest(t: RoutingTable): string {
  const h = createHash("sha256");
  h.update(`domains\n${t.domains.join("\n")}\nmailboxes\n${t.mailboxes.join("\n")}\nrelays\n`);
  for (const r of t.relays) h.update(`${r.recipient} ${r.to} ${r.nextHop}\n`);
  return h.digest("hex");
}
