/**
 * The SDK's side of station TLS: a station presents a self-signed certificate, and the federation
 * file pins its SHA-256 fingerprint. No certificate authority is involved, so none can be
 * tricked into vouching for an impostor; rotating a certificate means updating the pin.
 *
 * Two checks stand on each connection: OpenSSL verifies the chain against the pinned certificate
 * as the only trust anchor (anything else fails with a self-signed-certificate error), and
 * `checkServerIdentity` compares the presented certificate's fingerprint with the pin. Host names
 * are deliberately not checked: a station is identified by its pinned key, not by the name or
 * address it is reached under (loopback, a tunnel, a changed DNS name).
 */
import { X509Certificate, createHash } from "node:crypto";
import { connect as tlsConnect, type PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { BadInput, ConfigInvalid } from "../../common/errors.js";

/** Lower-case hex SHA-256 of a certificate's DER bytes; accepts PEM text or DER bytes. */
export function certificateFingerprint(certificate: string | Uint8Array): string {
  const der = typeof certificate === "string" ? new X509Certificate(certificate).raw : Buffer.from(certificate);
  return createHash("sha256").update(der).digest("hex");
}

/** Accepts "ab12…", "AB:12:…" (openssl's form) or "sha256:ab12…"; returns 64 lower-case hex digits. */
export function normaliseFingerprint(text: string): string {
  const hex = String(text).trim().replace(/^sha256:/i, "").replace(/:/g, "").toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new BadInput(`a certificate fingerprint is a SHA-256: 64 hex digits (got "${text}")`);
  return hex;
}

export class PinMismatch extends Error {
  constructor(readonly expected: string, readonly presented: string) {
    super(`the station presented a TLS certificate with SHA-256 fingerprint ${presented}, but the federation file pins ${expected}: refusing to talk to a possible impostor`);
    this.name = "PinMismatch";
  }
}

export interface PinnedCredentialsOptions {
  /** The station's certificate, PEM: the federation file's, or one fetched by fetchPinnedCertificate. */
  certificate: string;
  /** The pinned fingerprint from the federation file. */
  fingerprint: string;
}

/** grpc-js channel credentials that accept only the station whose certificate has the pinned fingerprint. */
export function pinnedChannelCredentials(options: PinnedCredentialsOptions): grpc.ChannelCredentials {
  const expected = normaliseFingerprint(options.fingerprint);
  const given = certificateFingerprint(options.certificate);
  if (given !== expected) throw new ConfigInvalid(`the station certificate given has fingerprint ${given}, not the pinned ${expected}`);
  return grpc.credentials.createSsl(Buffer.from(options.certificate), null, null, {
    rejectUnauthorized: true,
    checkServerIdentity: (_host: string, cert: PeerCertificate) => {
      const presented = cert?.raw ? certificateFingerprint(cert.raw) : "(none)";
      return presented === expected ? undefined : new PinMismatch(expected, presented);
    },
  });
}

/**
 * Connects once without trusting anything, reads the certificate the station presents, and
 * returns it (PEM) only if its fingerprint equals the pin. This lets a federation file carry just
 * the fingerprint. It is safe because nothing is sent over this connection and the certificate is
 * accepted only by its pinned hash. Throws PinMismatch for a different certificate (also useful to
 * explain a refused gRPC connection), or a plain Error when the address cannot be reached.
 */
export function fetchPinnedCertificate(options: { address: string; fingerprint: string; timeoutMs?: number }): Promise<string> {
  const expected = normaliseFingerprint(options.fingerprint);
  const i = options.address.lastIndexOf(":");
  const host = options.address.slice(0, i).replace(/^\[(.*)\]$/, "$1");
  const port = Number(options.address.slice(i + 1));
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, ALPNProtocols: ["h2"], timeout: options.timeoutMs ?? 5000 });
    const done = (err: Error | undefined, pem?: string): void => {
      socket.destroy();
      if (err) reject(err);
      else resolve(pem!);
    };
    socket.once("secureConnect", () => {
      const raw = socket.getPeerCertificate(false)?.raw;
      if (!raw) return done(new Error(`station at ${options.address} presented no TLS certificate`));
      const presented = certificateFingerprint(raw);
      if (presented !== expected) return done(new PinMismatch(expected, presented));
      done(undefined, new X509Certificate(raw).toString());
    });
    socket.once("timeout", () => done(new Error(`no TLS handshake with ${options.address} within ${options.timeoutMs ?? 5000} ms`)));
    socket.once("error", (err) => done(err));
  });
}
