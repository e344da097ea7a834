/**
 * secagg/curves.ts computes X25519 and Ed25519 with node:crypto (OpenSSL); these tests pin it to
 * the published vectors (RFC 7748, RFC 8032) and cross-check it against @noble/curves.
 */
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { ed25519PublicKey, ed25519Sign, ed25519Verify, x25519PublicKey, x25519SharedSecret } from "../common/curves.js";
import { ringAccumulate, ringAdd, ringSub } from "../secagg/fixedpoint.js";
import { LIMBS_PER_ELEMENT } from "../secagg/params.js";
import { seededRandom } from "./helpers/random.js";

const hex = (h: string) => new Uint8Array(Buffer.from(h, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function seededBytes(random: () => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
}

describe("X25519 (RFC 7748 §6.1) and Ed25519 (RFC 8032 §7.1) vectors", () => {
  it("agrees on Alice and Bob's shared secret", () => {
    const alice = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const bob = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    expect(toHex(x25519PublicKey(alice))).toBe("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    expect(toHex(x25519PublicKey(bob))).toBe("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    const shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    expect(toHex(x25519SharedSecret(alice, x25519PublicKey(bob)))).toBe(shared);
    expect(toHex(x25519SharedSecret(bob, x25519PublicKey(alice)))).toBe(shared);
  });

  it("signs the empty message of test 1", () => {
    const secret = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    expect(toHex(ed25519PublicKey(secret))).toBe("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    const signature = ed25519Sign(new Uint8Array(0), secret);
    expect(toHex(signature)).toBe(
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
    expect(ed25519Verify(signature, new Uint8Array(0), ed25519PublicKey(secret))).toBe(true);
  });

  it("refuses a low-order X25519 public key", () => {
    expect(() => x25519SharedSecret(hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"), new Uint8Array(32))).toThrow(/low-order/);
  });
});

describe("cross-checked against @noble/curves", () => {
  const random = seededRandom(2026);
  for (let i = 0; i < 20; i++) {
    it(`key pair ${i}: same public keys, shared secrets and signatures`, () => {
      const a = seededBytes(random, 32);
      const b = seededBytes(random, 32);
      const message = seededBytes(random, 1 + Math.floor(random() * 200));
      expect(x25519PublicKey(a)).toEqual(x25519.getPublicKey(a));
      expect(x25519SharedSecret(a, x25519.getPublicKey(b))).toEqual(x25519.getSharedSecret(a, x25519.getPublicKey(b)));
      expect(ed25519PublicKey(a)).toEqual(ed25519.getPublicKey(a));
      const signature = ed25519Sign(message, a);
      expect(signature).toEqual(ed25519.sign(message, a)); // Ed25519 is deterministic
      expect(ed25519Verify(ed25519.sign(message, b), message, ed25519.getPublicKey(b))).toBe(true);
      const forged = signature.slice();
      forged[i % 64] ^= 1;
      expect(ed25519Verify(forged, message, ed25519PublicKey(a))).toBe(false);
      expect(ed25519Verify(signature, message, ed25519PublicKey(b))).toBe(false);
    });
  }
});

describe("ringAccumulate", () => {
  it("equals the same additions and subtractions done one by one, carries and borrows included", () => {
    const random = seededRandom(7);
    const elements = 2000;
    const limbs = () => Uint32Array.from({ length: elements * LIMBS_PER_ELEMENT }, () => (random() < 0.2 ? 0xffffffff : random() < 0.2 ? 0 : Math.floor(random() * 2 ** 32)));
    const start = limbs();
    const terms = Array.from({ length: 13 }, (_, j) => ({ vector: limbs(), sign: (j % 3 === 0 ? -1 : 1) as 1 | -1 }));
    const expected = start.slice();
    for (const t of terms) (t.sign > 0 ? ringAdd : ringSub)(expected, t.vector);
    const actual = start.slice();
    ringAccumulate(actual, terms);
    expect(actual).toEqual(expected);
  });
});
