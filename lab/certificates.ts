/**
 * The lab's certificate authority and the chains it issues (openssl from Debian): what a real
 * organisation gets from its CA, made here so that TLS in the lab is verified, not merely offered.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readChain } from "../src/model/certificate";
import { run } from "../src/remote/local";

/** A new ECDSA P-256 key, unencrypted, as openssl req makes it. */
const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export interface LabCa {
  /** The CA's certificate (PEM file): the trust anchor of the lab's senders. */
  certificateFile: string;
  keyFile: string;
}

/** The lab's CA in `dir`, made on first use (ECDSA P-256, ten years). */
export async function ensureCa(dir: string): Promise<LabCa> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = { certificateFile: join(dir, "ca.pem"), keyFile: join(dir, "ca.key") };
  if (!existsSync(ca.certificateFile) || !existsSync(ca.keyFile))
    await run([
      "openssl",
      "req",
      "-x509",
      ...NEW_KEY,
      "-keyout",
      ca.keyFile,
      "-out",
      ca.certificateFile,
      "-days",
      "3650",
      "-subj",
      "/O=cutover lab/CN=cutover lab CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
  return ca;
}

/**
 * A new key and a certificate from `ca` for `names` (the first is the subject's CN), as postfix's
 * smtpd_tls_chain_files takes them: the key, the certificate, the CA's certificate. PEM.
 */
export async function issueChain(ca: LabCa, names: string[], days = 90): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "cutover-cert-"));
  try {
    const [key, csr, cert, ext] = ["key.pem", "req.pem", "cert.pem", "ext.cnf"].map((f) => join(dir, f));
    writeFileSync(
      ext,
      `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`,
    );
    await run(["openssl", "req", "-new", ...NEW_KEY, "-keyout", key, "-out", csr, "-subj", `/CN=${names[0]}`]);
    await run([
      "openssl",
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      ca.certificateFile,
      "-CAkey",
      ca.keyFile,
      "-set_serial",
      `0x${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`,
      "-days",
      String(days),
      "-extfile",
      ext,
      "-out",
      cert,
    ]);
    return `${[key, cert, ca.certificateFile].map((f) => readFileSync(f, "utf8").trimEnd()).join("\n")}\n`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A chain for `names` kept in `file`: the one there while it covers every name and has more than
 * 30 days left (so each lab up keeps the keys, as a real gateway keeps its own), else a new one.
 * Returns the key's SPKI sha256.
 */
export async function ensureChain(ca: LabCa, file: string, names: string[]): Promise<string> {
  const now = new Date();
  const kept = existsSync(file) ? readFileSync(file, "utf8") : "";
  const usable = (pem: string) =>
    names.every((n) => {
      const { facts, problems } = readChain(pem, n, now);
      return !problems.length && (facts?.daysLeft ?? 0) > 30;
    });
  if (!kept || !usable(kept)) writeFileSync(file, await issueChain(ca, names), { mode: 0o600 });
  return readChain(readFileSync(file, "utf8"), names[0], now).facts!.spki;
}
