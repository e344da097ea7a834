import { describe, expect, it } from "vitest";
import { ProtocolViolation } from "../common/errors.js";
import { agree, generateKeyPair } from "../secagg/keyagreement.js";
import { openShares, sealShares } from "../secagg/sharebox.js";

const context = new Uint8Array(32).fill(0xc0);
const alice = generateKeyPair();
const bob = generateKeyPair();
const plaintext = Uint8Array.from({ length: 132 }, (_, i) => i);

function seal(overrides: Partial<{ jobId: string; sender: string; receiver: string; context: Uint8Array }> = {}) {
  return sealShares({
    context, jobId: "job-1", sender: "alice", receiver: "bob",
    senderSecretKey: alice.secretKey, receiverPublicKey: bob.publicKey, plaintext, ...overrides,
  });
}

function open(ciphertext: Uint8Array, overrides: Partial<{ jobId: string; sender: string; receiver: string; context: Uint8Array; receiverSecretKey: Uint8Array }> = {}) {
  return openShares({
    context, jobId: "job-1", sender: "alice", receiver: "bob",
    receiverSecretKey: bob.secretKey, senderPublicKey: alice.publicKey, ciphertext, ...overrides,
  });
}

describe("share box: end-to-end encryption of shares between stations", () => {
  it("round-trips, with a fresh nonce each time", () => {
    const a = seal();
    const b = seal();
    expect(open(a)).toEqual(plaintext);
    expect(a.length).toBe(12 + 132 + 16);
    expect(Buffer.from(a.subarray(0, 12)).equals(Buffer.from(b.subarray(0, 12)))).toBe(false);
  });

  it("refuses a flipped bit anywhere: nonce, body or tag", () => {
    const sealed = seal();
    for (const position of [0, 11, 12, 80, sealed.length - 16, sealed.length - 1]) {
      const tampered = sealed.slice();
      tampered[position] ^= 0x01;
      expect(() => open(tampered)).toThrow(ProtocolViolation);
      expect(() => open(tampered)).toThrow(/fail authentication/);
    }
  });

  it("refuses a ciphertext moved to another job, receiver, sender or context", () => {
    const sealed = seal();
    expect(() => open(sealed, { jobId: "job-2" })).toThrow(ProtocolViolation);
    expect(() => open(sealed, { receiver: "carol" })).toThrow(ProtocolViolation);
    expect(() => open(sealed, { sender: "carol" })).toThrow(ProtocolViolation);
    expect(() => open(sealed, { context: new Uint8Array(32) })).toThrow(ProtocolViolation);
  });

  it("cannot be opened by anyone but the receiver", () => {
    expect(() => open(seal(), { receiverSecretKey: generateKeyPair().secretKey })).toThrow(ProtocolViolation);
  });

  it("refuses truncated input", () => {
    expect(() => open(new Uint8Array(20))).toThrow(/truncated/);
  });

  it("uses direction-specific keys", () => {
    const ab = agree({ secretKey: alice.secretKey, publicKey: bob.publicKey, context, purpose: "p", fields: ["j", "alice", "bob"] });
    const ba = agree({ secretKey: bob.secretKey, publicKey: alice.publicKey, context, purpose: "p", fields: ["j", "alice", "bob"] });
    const reverse = agree({ secretKey: bob.secretKey, publicKey: alice.publicKey, context, purpose: "p", fields: ["j", "bob", "alice"] });
    expect(ab).toEqual(ba);
    expect(ab).not.toEqual(reverse);
  });

  it("refuses a low-order X25519 public key", () => {
    expect(() => agree({ secretKey: alice.secretKey, publicKey: new Uint8Array(32), context, purpose: "p", fields: [] })).toThrow(ProtocolViolation);
  });
});
