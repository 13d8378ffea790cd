/**
 * A gateway's TLS chain as postfix serves it (smtpd_tls_chain_files: the private key, then its
 * certificate, then the issuers) and the facts the plan and the checks need of it: the key's
 * SPKI digest (what a TLSA 3 1 1 record holds), the names it covers, and the days it has left.
 * Pure: computing over the text given, no I/O.
 */
import { createHash, createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";

export interface ChainFacts {
  /** sha256 of the certificate's SubjectPublicKeyInfo, lower-case hex: a TLSA 3 1 1 record's data. */
  spki: string;
  /** The DNS names the certificate covers (its subjectAltName, as X509Certificate lists them). */
  names: string[];
  notAfter: Date;
  /** Whole days until notAfter (negative once expired). */
  daysLeft: number;
  /** sha256 of the certificate's DER: changes with every renewal, even with the same key. */
  fingerprint: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
const DAY_MS = 86_400_000;

/** sha256 of a public key's DER SubjectPublicKeyInfo, hex: what TLSA selector 1, matching type 1 hold. */
export const spkiDigest = (key: KeyObject) =>
  createHash("sha256")
    .update(key.export({ type: "spki", format: "der" }))
    .digest("hex");

/**
 * The facts of a chain for `name` at `now`, and what is wrong with it (each a sentence that names the
 * fix; facts are absent only when the chain cannot be read). The chain must be usable as it stands: key first, its certificate next, the key matching the
 * certificate, the certificate covering `name` (unless empty) and valid now.
 */
export function readChain(pem: string, name: string, now: Date): { facts?: ChainFacts; problems: string[] } {
  const blocks = [...pem.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1], text: m[0] }));
  const order = "postfix's smtpd_tls_chain_files order: the private key, then its certificate, then the issuers' certificates";
  if (!blocks.length) return { problems: [`holds no PEM block: give the private key and certificate chain in PEM, in ${order}`] };
  if (!blocks[0].label.endsWith("PRIVATE KEY"))
    return { problems: [`does not start with a private key (its first block is ${blocks[0].label}): put them in ${order}`] };
  if (blocks[0].label.includes("ENCRYPTED"))
    return { problems: ["holds an encrypted private key: postfix reads keys without a passphrase; decrypt it (openssl pkey -in key.pem)"] };
  if (blocks[1]?.label !== "CERTIFICATE") return { problems: [`has no certificate right after the private key: put them in ${order}`] };
  let key: KeyObject;
  let cert: X509Certificate;
  try {
    key = createPrivateKey(blocks[0].text);
  } catch (e) {
    return { problems: [`its private key cannot be read (${(e as Error).message}): give it in PEM as openssl writes it`] };
  }
  try {
    cert = new X509Certificate(blocks[1].text);
  } catch (e) {
    return { problems: [`its certificate cannot be read (${(e as Error).message}): give it in PEM as openssl writes it`] };
  }
  if (!cert.checkPrivateKey(key))
    return { problems: ["its private key does not match its certificate: pair the certificate with the key it was issued for"] };
  return certificateFacts(cert, name, now);
}

/**
 * The facts of the first certificate in `pem` (a chain's leaf; any key block before it is skipped,
 * so a host can send only its chain's certificates) for `name` at `now`, and what is wrong with it.
 */
export function readCertificate(pem: string, name: string, now: Date): { facts?: ChainFacts; problems: string[] } {
  const leaf = [...pem.matchAll(PEM_BLOCK)].find((m) => m[1] === "CERTIFICATE");
  if (!leaf) return { problems: ["holds no certificate"] };
  try {
    return certificateFacts(new X509Certificate(leaf[0]), name, now);
  } catch (e) {
    return { problems: [`its certificate cannot be read (${(e as Error).message})`] };
  }
}

function certificateFacts(cert: X509Certificate, name: string, now: Date): { facts?: ChainFacts; problems: string[] } {
  const problems: string[] = [];
  const names = (cert.subjectAltName ?? "")
    .split(/,\s*/)
    .filter((n) => n.startsWith("DNS:"))
    .map((n) => n.slice(4).toLowerCase());
  if (name && cert.checkHost(name) === undefined)
    problems.push(
      `its certificate does not cover ${name} (it covers ${names.length ? names.join(", ") : "no DNS name"}): use a certificate whose subjectAltName lists ${name}`,
    );
  const notAfter = new Date(cert.validTo);
  const notBefore = new Date(cert.validFrom);
  if (notAfter.getTime() <= now.getTime())
    problems.push(`its certificate expired on ${notAfter.toISOString().slice(0, 10)}: renew it and set the new one`);
  else if (notBefore.getTime() > now.getTime())
    problems.push(`its certificate is not valid before ${notBefore.toISOString()}: wait until then or check this machine's clock`);
  const facts = {
    spki: spkiDigest(cert.publicKey),
    names,
    notAfter,
    daysLeft: Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS),
    fingerprint: createHash("sha256").update(cert.raw).digest("hex"),
  };
  return { facts, problems };
}

/** A TLSA 3 1 1 value (DANE-EE, SubjectPublicKeyInfo, sha256) for a key's digest, as the plan writes it. */
export const tlsaValue = (spki: string) => `3 1 1 ${spki.toLowerCase()}`;
