/**
 * A minimal X.509 v3 certificate writer for the station's self-signed TLS certificate.
 *
 * node:crypto makes keys and signatures but not certificates. Rather than pull in a general ASN.1
 * library for one fixed structure, this file writes exactly one shape of certificate in DER
 * (RFC 5280 §4.1): ECDSA P-256 with SHA-256, subject = issuer = "CN=werkplaats station NAME",
 * a random positive 127-bit serial, basicConstraints CA:FALSE, extKeyUsage serverAuth, and a
 * subjectAltName of DNS names and IP addresses. All cryptography — key generation and the
 * signature — is node:crypto's (OpenSSL). The output is checked by parsing it back with
 * node:crypto's X509Certificate and by real TLS handshakes in test/tls.test.ts.
 *
 * Trust does not come from this certificate's contents at all: the SDK pins its SHA-256
 * fingerprint (tls.ts). The names are there so that ordinary TLS tools also accept it.
 */
import { X509Certificate, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { isIP } from "node:net";

// --- DER, just the types a certificate needs ---------------------------------------------------

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
function tlv(tag: number, body: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}
const sequence = (...items: Uint8Array[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Uint8Array[]): Buffer => tlv(0x31, Buffer.concat(items));
const octetString = (body: Uint8Array): Buffer => tlv(0x04, body);
const bitString = (body: Uint8Array): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), body]));
const utf8String = (text: string): Buffer => tlv(0x0c, Buffer.from(text, "utf8"));
const explicit = (n: number, body: Uint8Array): Buffer => tlv(0xa0 + n, body);
const boolean = (value: boolean): Buffer => tlv(0x01, Buffer.from([value ? 0xff : 0x00]));

function positiveInteger(bytes: Uint8Array): Buffer {
  let b = Buffer.from(bytes);
  while (b.length > 1 && b[0] === 0 && (b[1] & 0x80) === 0) b = b.subarray(1);
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split(".").map(Number);
  const out: number[] = [40 * parts[0] + parts[1]];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, "") + "Z";
  const year = date.getUTCFullYear();
  return year < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), "ascii")) : tlv(0x18, Buffer.from(digits, "ascii"));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split(".").map(Number));
  // IPv6: expand "::" and write eight 16-bit groups.
  const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, undefined];
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}

const OID = {
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  commonName: "2.5.4.3",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
};

export interface SelfSignedCertificateOptions {
  commonName: string;
  /** DNS names and IP addresses (v4 or v6) for the subjectAltName. */
  names: readonly string[];
  /** Validity in days from now; the certificate is also valid from one hour ago (clock skew). */
  days: number;
  /** An existing P-256 private key; a fresh one is made when omitted. */
  privateKey?: KeyObject;
  now?: Date;
}

/** A self-signed ECDSA P-256 certificate and its private key, both PEM. */
export function createSelfSignedCertificate(options: SelfSignedCertificateOptions): { certificate: string; privateKey: string } {
  const privateKey = options.privateKey ?? generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
  const publicKeyDer = createPublicKey(privateKey).export({ type: "spki", format: "der" });
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - 3600_000);
  const notAfter = new Date(now.getTime() + options.days * 86_400_000);
  const name = sequence(set(sequence(oid(OID.commonName), utf8String(options.commonName))));
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  const altNames = options.names.map((n) => (isIP(n) ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n, "ascii"))));
  const extensions = sequence(
    sequence(oid(OID.basicConstraints), boolean(true), octetString(sequence())),
    sequence(oid(OID.extKeyUsage), octetString(sequence(oid(OID.serverAuth)))),
    sequence(oid(OID.subjectAltName), octetString(sequence(...altNames))),
  );
  const tbs = sequence(
    explicit(0, positiveInteger(Buffer.from([2]))),
    positiveInteger(serial),
    algorithm,
    name,
    sequence(time(notBefore), time(notAfter)),
    name,
    publicKeyDer,
    explicit(3, extensions),
  );
  const signature = sign("sha256", tbs, privateKey); // DER-encoded ECDSA signature, as X.509 wants
  const der = sequence(tbs, algorithm, bitString(signature));
  const certificate = `-----BEGIN CERTIFICATE-----\n${der.toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n?$/, "\n")}-----END CERTIFICATE-----\n`;
  // Parse it back: a structural mistake here must fail at creation, not at the first handshake.
  const parsed = new X509Certificate(certificate);
  if (!parsed.verify(createPublicKey(privateKey))) throw new Error("self-signed certificate does not verify against its own key");
  return { certificate, privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString() };
}
