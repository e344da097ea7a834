/**
 * A station's TLS material:
 *
 *   DIR/tls.crt   self-signed certificate (ECDSA P-256), PEM — its SHA-256 fingerprint goes into
 *                 the federation file, which pins it
 *   DIR/tls.key   its private key, PKCS#8 PEM, mode 0600
 *
 * The certificate names localhost, 127.0.0.1, ::1 and the station name, so ordinary tools accept
 * it too; the SDK does not rely on names (sdk/auth/pinned-tls.ts).
 */
import { X509Certificate, createHash, createPrivateKey } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ConfigInvalid } from "../../common/errors.js";
import { writeFileAtomic } from "../../common/files.js";
import { createSelfSignedCertificate } from "./self-signed-certificate.js";

export const TLS_CERTIFICATE_FILE = "tls.crt";
export const TLS_KEY_FILE = "tls.key";
/** Five years: a pinned certificate is rotated by hand, through the federation file. */
export const DEFAULT_CERTIFICATE_DAYS = 1826;

export interface StationTls {
  /** PEM */
  certificate: string;
  /** PKCS#8 PEM */
  privateKey: string;
  /** Lower-case hex SHA-256 of the certificate's DER: what the federation file pins. */
  fingerprint: string;
}

/** Lower-case hex SHA-256 of a certificate (PEM) — equal to sdk/auth's certificateFingerprint. */
export function certificateFingerprint(certificatePem: string): string {
  return createHash("sha256").update(new X509Certificate(certificatePem).raw).digest("hex");
}

export function createStationTls(options: { name: string; days?: number; now?: Date }): StationTls {
  const names = [...new Set(["localhost", "127.0.0.1", "::1", options.name])];
  const { certificate, privateKey } = createSelfSignedCertificate({
    commonName: `werkplaats station ${options.name}`,
    names,
    days: options.days ?? DEFAULT_CERTIFICATE_DAYS,
    now: options.now,
  });
  return { certificate, privateKey, fingerprint: certificateFingerprint(certificate) };
}

/** Creates DIR/tls.crt and DIR/tls.key (0600) for `station init`; refuses to overwrite either. */
export function writeStationTls(dir: string, options: { name: string; days?: number }): StationTls {
  const folder = resolve(dir);
  for (const f of [TLS_CERTIFICATE_FILE, TLS_KEY_FILE]) {
    if (existsSync(join(folder, f))) throw new ConfigInvalid(`${join(folder, f)} exists already; not overwriting the station's TLS material`);
  }
  const tls = createStationTls(options);
  writeFileAtomic(join(folder, TLS_KEY_FILE), tls.privateKey, { mode: 0o600 });
  writeFileAtomic(join(folder, TLS_CERTIFICATE_FILE), tls.certificate);
  return tls;
}

/** Reads DIR/tls.crt and DIR/tls.key, refusing a key others can read or a certificate that has expired. */
export function loadStationTls(dir: string, options: { now?: Date } = {}): StationTls {
  const folder = resolve(dir);
  const certFile = join(folder, TLS_CERTIFICATE_FILE);
  const keyFile = join(folder, TLS_KEY_FILE);
  for (const f of [certFile, keyFile]) if (!existsSync(f)) throw new ConfigInvalid(`${f} not found (werkplaats station init makes it)`);
  const mode = statSync(keyFile).mode & 0o777;
  if (mode & 0o077) throw new ConfigInvalid(`${keyFile} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${keyFile}`);
  const certificate = readFileSync(certFile, "utf8");
  const privateKey = readFileSync(keyFile, "utf8");
  let parsed: X509Certificate;
  try {
    parsed = new X509Certificate(certificate);
  } catch (err) {
    throw new ConfigInvalid(`${certFile} is not a PEM certificate: ${(err as Error).message}`);
  }
  if (!parsed.checkPrivateKey(createPrivateKeyOrFail(privateKey, keyFile))) throw new ConfigInvalid(`${keyFile} is not the key of ${certFile}`);
  const now = options.now ?? new Date();
  if (new Date(parsed.validTo).getTime() < now.getTime()) {
    throw new ConfigInvalid(`${certFile} expired on ${parsed.validTo}: make a new one and give its fingerprint to the federation`);
  }
  return { certificate, privateKey, fingerprint: certificateFingerprint(certificate) };
}

function createPrivateKeyOrFail(pem: string, file: string) {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new ConfigInvalid(`${file} is not a PEM private key: ${(err as Error).message}`);
  }
}

/** grpc-js server credentials for the station: TLS with its own certificate, no client certificates. */
export function stationServerCredentials(tls: Pick<StationTls, "certificate" | "privateKey">): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(tls.certificate), private_key: Buffer.from(tls.privateKey) }], false);
}
