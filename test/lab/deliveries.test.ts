/** How the zero-loss runs count a message as delivered: a file in a maildir's new/ or cur/, as a mail reader sees it. */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { hostDir } from "../../lab/layout";
import { findDeliveries } from "../../lab/stream";
import { SessionPool } from "../../src/remote/ssh";
import { testLab } from "./env";

const lab = testLab();
const pool = new SessionPool();
afterAll(() => pool.closeAll());

it("counts a message in new/ or cur/, never the half-written file a killed delivery agent leaves in tmp/", async () => {
  // On the new server, whose mail lies under the lab's hosts/new/: a path with "/new/" in it is not a delivery.
  const maildir = join(hostDir("new"), "mail", "deliveries.test", "probe");
  const tag = `deliveries${process.pid}`;
  try {
    for (const [dir, seq] of [
      ["new", 1],
      ["cur", 2],
      ["tmp", 3],
    ] as const) {
      mkdirSync(join(maildir, dir), { recursive: true });
      writeFileSync(join(maildir, dir, `file${seq}`), `Subject: ${tag}-${seq}\n\n`);
    }
    const found = await findDeliveries(await pool.session(lab.target("new")), "new", tag);
    expect(found.map((d) => [d.marker, d.path.slice(maildir.length)]).sort()).toEqual([
      [`${tag}-1`, "/new/file1"],
      [`${tag}-2`, "/cur/file2"],
    ]);
  } finally {
    rmSync(join(hostDir("new"), "mail", "deliveries.test"), { recursive: true, force: true });
  }
});
