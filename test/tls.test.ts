import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stationClientConstructor, stationServiceDefinition } from "../common/protos.js";
import { certificateFingerprint as sdkFingerprint, fetchPinnedCertificate, normaliseFingerprint, PinMismatch, pinnedChannelCredentials } from "../sdk/auth/pinned-tls.js";
import { certificateFingerprint, createStationTls, loadStationTls, stationServerCredentials, writeStationTls } from "../station-daemon/governance/tls.js";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { createSelfSignedCertificate } from "../station-daemon/governance/self-signed-certificate.js";
import { tempDir } from "./helpers/temp.js";

/** A station serving GetInfo only, over TLS with the given material, on a free loopback port. */
async function serve(tls: { certificate: string; privateKey: string }, name: string): Promise<{ server: grpc.Server; address: string }> {
  const server = new grpc.Server();
  server.addService(stationServiceDefinition(), {
    GetInfo: (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
      callback(null, { name, protocolVersion: "werkplaats.v1", softwareVersion: "test", identityKey: "00".repeat(32), datasets: [] }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", stationServerCredentials(tls), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, address: `127.0.0.1:${port}` };
}

function getInfo(address: string, credentials: grpc.ChannelCredentials): Promise<{ name: string }> {
  const Client = stationClientConstructor();
  const client = new Client(address, credentials) as unknown as grpc.Client & {
    GetInfo(req: unknown, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: { name: string }) => void): void;
  };
  return new Promise((resolve, reject) =>
    client.GetInfo({}, { deadline: Date.now() + 5000 }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    }),
  );
}

describe("station TLS with a pinned self-signed certificate", () => {
  const real = createStationTls({ name: "homecare" });
  const impostor = createStationTls({ name: "homecare" });
  let station: { server: grpc.Server; address: string };
  let fake: { server: grpc.Server; address: string };

  beforeAll(async () => {
    station = await serve(real, "homecare");
    fake = await serve(impostor, "impostor");
  });
  afterAll(() => {
    station.server.forceShutdown();
    fake.server.forceShutdown();
  });

  it("makes a certificate for localhost, 127.0.0.1, ::1 and the station name", () => {
    const cert = new X509Certificate(real.certificate);
    expect(cert.subjectAltName).toBe("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:homecare");
    expect(cert.ca).toBe(false);
    expect(real.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(real.fingerprint).toBe(cert.fingerprint256.replace(/:/g, "").toLowerCase());
    expect(sdkFingerprint(real.certificate)).toBe(certificateFingerprint(real.certificate));
    expect(real.fingerprint).not.toBe(impostor.fingerprint);
  });

  it("connects to the station whose certificate has the pinned fingerprint", async () => {
    const info = await getInfo(station.address, pinnedChannelCredentials({ certificate: real.certificate, fingerprint: real.fingerprint }));
    expect(info.name).toBe("homecare");
  });

  it("refuses an impostor with another self-signed certificate at the pinned address", async () => {
    const credentials = pinnedChannelCredentials({ certificate: real.certificate, fingerprint: real.fingerprint });
    const err = (await getInfo(fake.address, credentials).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toMatch(/self[- ]signed certificate/i);
  });

  it("refuses a certificate made with the station's own key and name that is not the pinned one", async () => {
    // Same key and name as the real station (a station that re-made its certificate without telling
    // the federation). OpenSSL already refuses it as a self-signed leaf that is not the anchor; the
    // fingerprint check in checkServerIdentity stands behind that.
    const sibling = createSelfSignedCertificate({ commonName: "werkplaats station homecare", names: ["localhost"], days: 30, privateKey: createPrivateKey(real.privateKey) });
    const twin = await serve({ certificate: sibling.certificate, privateKey: sibling.privateKey }, "twin");
    try {
      const err = (await getInfo(twin.address, pinnedChannelCredentials({ certificate: real.certificate, fingerprint: real.fingerprint })).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.UNAVAILABLE);
      expect(err.details).toMatch(new RegExp(`self-signed certificate|pins ${real.fingerprint}`));
    } finally {
      twin.server.forceShutdown();
    }
  });

  it("refuses the impostor even when it is the impostor's certificate that the client was handed", () => {
    expect(() => pinnedChannelCredentials({ certificate: impostor.certificate, fingerprint: real.fingerprint })).toThrow(/not the pinned/);
  });

  it("fetches the station's certificate by its pin, and names both fingerprints for an impostor", async () => {
    const pem = await fetchPinnedCertificate({ address: station.address, fingerprint: real.fingerprint.toUpperCase().replace(/(..)(?!$)/g, "$1:") });
    expect(certificateFingerprint(pem)).toBe(real.fingerprint);
    const info = await getInfo(station.address, pinnedChannelCredentials({ certificate: pem, fingerprint: real.fingerprint }));
    expect(info.name).toBe("homecare");
    const err = await fetchPinnedCertificate({ address: fake.address, fingerprint: real.fingerprint }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PinMismatch);
    expect((err as Error).message).toContain(impostor.fingerprint);
    expect((err as Error).message).toContain(real.fingerprint);
  });

  it("accepts fingerprints in openssl's colon form and refuses malformed ones", () => {
    expect(normaliseFingerprint("sha256:" + real.fingerprint.toUpperCase())).toBe(real.fingerprint);
    expect(() => normaliseFingerprint("abc")).toThrow(/64 hex digits/);
  });

  it("writes the key with mode 0600, refuses to overwrite, and loads what it wrote", () => {
    const dir = tempDir("wp-tls-");
    const written = writeStationTls(dir, { name: "gp" });
    expect(statSync(join(dir, "tls.key")).mode & 0o777).toBe(0o600);
    expect(loadStationTls(dir).fingerprint).toBe(written.fingerprint);
    expect(() => writeStationTls(dir, { name: "gp" })).toThrow(/exists already/);
  });
});
