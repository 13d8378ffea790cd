/**
 * The persistence scripts run for real (Debian's sh, awk and sed; ifupdown's ifup present, as the
 * lab installs it), each in a mount namespace of its own with a scratch /etc/network, /etc/hostname
 * and /etc/hosts over the machine's: the files a gateway's boot reads, as the go-live leaves them.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HOSTNAME_SCRIPT, PERSISTENCE_SCRIPT, parsePersisted } from "../../src/remote/effects/persistence";

/** Runs `steps` (shell) in a private mount namespace whose /etc/network, /etc/hostname and /etc/hosts start as given. */
function onScratchHost(files: { interfaces: string; hostname?: string; hosts?: string }, steps: string): string {
  if (!existsSync("/usr/sbin/ifup")) throw new Error("ifupdown is not installed: the lab installs it (npm test builds the lab first)");
  const dir = mkdtempSync(join(tmpdir(), "cutover-persist-"));
  writeFileSync(join(dir, "interfaces"), files.interfaces);
  writeFileSync(join(dir, "hostname"), files.hostname ?? "legacy.example.com\n");
  writeFileSync(join(dir, "hosts"), files.hosts ?? "127.0.0.1 localhost\n127.0.1.1 legacy.example.com legacy\n");
  writeFileSync(join(dir, "persist.sh"), PERSISTENCE_SCRIPT);
  writeFileSync(join(dir, "hostname.sh"), HOSTNAME_SCRIPT);
  const setup = [
    "set -e",
    "mount -t tmpfs none /etc/network",
    "mkdir /etc/network/interfaces.d",
    `cp ${dir}/interfaces /etc/network/interfaces`,
    `mount --bind ${dir}/hostname /etc/hostname`,
    `mount --bind ${dir}/hosts /etc/hosts`,
    `p() { sh ${dir}/persist.sh "$@"; }`,
    `n() { sh ${dir}/hostname.sh "$@"; }`,
  ].join("\n");
  return execFileSync("unshare", ["-m", "sh", "-c", `${setup}\n${steps}`], { encoding: "utf8" });
}

const GATEWAY = `source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

auto eth0
iface eth0 inet static
    address 192.0.2.10/24
    gateway 192.0.2.1

# the gateway's service address
iface eth0 inet static
    address 192.0.2.25/24
`;

describe("the service address in the host's ifupdown configuration", () => {
  it("the releasing host's own stanza is commented out, and taking the address back gives the file back byte for byte", () => {
    const out = onScratchHost(
      { interfaces: GATEWAY },
      `p read eth0 192.0.2.25 24; echo ==; p release eth0 192.0.2.25 24; cat /etc/network/interfaces; echo ==; p read eth0 192.0.2.25 24; echo ==; p persist eth0 192.0.2.25 24; cat /etc/network/interfaces; ls /etc/network/interfaces.d`,
    );
    const [before, released, afterRelease, back] = out.split("==\n");
    expect(parsePersisted(before)).toEqual({
      stack: "ifupdown",
      detail: "ifupdown: /etc/network/interfaces",
      address: true,
      hostnameFile: "legacy.example.com",
    });
    expect(released).toContain("#cutover-released# iface eth0 inet static\n#cutover-released#     address 192.0.2.25/24\n");
    // The host's own address and default route stay as they were.
    expect(released).toContain("iface eth0 inet static\n    address 192.0.2.10/24\n    gateway 192.0.2.1\n");
    expect(parsePersisted(afterRelease).address).toBe(false);
    expect(back).toBe(GATEWAY);
  });

  it("a host that never had it gets a file of cutover's own, which its release removes; ifupdown reads both stanzas", () => {
    const own = "source /etc/network/interfaces.d/*\n\nauto eth0\niface eth0 inet static\n    address 192.0.2.20/24\n";
    const out = onScratchHost(
      { interfaces: own },
      `p persist eth0 192.0.2.25 24; cat /etc/network/interfaces.d/cutover-gateway; echo ==; ifquery eth0; echo ==; p release eth0 192.0.2.25 24; ls /etc/network/interfaces.d; cat /etc/network/interfaces`,
    );
    const [file, queried, after] = out.split("==\n");
    expect(file).toContain("iface eth0 inet static\n    address 192.0.2.25/24\n");
    expect(queried).toMatch(/address: 192\.0\.2\.25/);
    expect(queried).toMatch(/address: 192\.0\.2\.20/);
    expect(after).toBe(own);
  });

  it("refuses what it cannot take out safely: a stanza that also sets the default route, a file that does not read interfaces.d", () => {
    const shared =
      "source /etc/network/interfaces.d/*\n\nauto eth0\niface eth0 inet static\n    address 192.0.2.25/24\n    gateway 192.0.2.1\n    dns-nameservers 192.0.2.53\n";
    expect(parsePersisted(onScratchHost({ interfaces: shared }, "p read eth0 192.0.2.25 24")).problem).toBe(
      "/etc/network/interfaces: the stanza that configures 192.0.2.25 also sets gateway dns-nameservers, which commenting it out for the release would take from the host at its next boot; move those to the stanza of the host's own address",
    );
    const closed = "auto eth0\niface eth0 inet static\n    address 192.0.2.20/24\n";
    const read = parsePersisted(onScratchHost({ interfaces: closed }, "p read eth0 192.0.2.25 24"));
    expect(read).toMatchObject({
      stack: "unknown",
      detail: expect.stringMatching(/does not read \/etc\/network\/interfaces\.d \(add: source/),
    });
    expect(() => onScratchHost({ interfaces: closed }, "p persist eth0 192.0.2.25 24")).toThrow(/exited with status 3|Command failed/);
  });
});

describe("the host name for the next boot", () => {
  it("goes to /etc/hostname and replaces the old name and its first label on the host's own /etc/hosts line, nothing else", () => {
    const out = onScratchHost(
      { interfaces: GATEWAY, hosts: "127.0.0.1 localhost\n127.0.1.1 legacy.example.com legacy\n# legacy.example.com kept in a comment\n" },
      "n legacy.example.com mail.example.com; cat /etc/hostname /etc/hosts; echo ==; n mail.example.com legacy.example.com; cat /etc/hostname /etc/hosts",
    );
    const [gone, back] = out.split("==\n");
    expect(gone).toBe("mail.example.com\n127.0.0.1 localhost\n127.0.1.1 mail.example.com mail\n# legacy.example.com kept in a comment\n");
    expect(back).toBe(
      "legacy.example.com\n127.0.0.1 localhost\n127.0.1.1 legacy.example.com legacy\n# legacy.example.com kept in a comment\n",
    );
  });
});
