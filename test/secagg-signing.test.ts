import { createCipheriv, randomBytes } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { encodeFields } from "../secagg/encoding.js";
import { expandMask } from "../secagg/prg.js";
import { BYTES_PER_ELEMENT } from "../secagg/params.js";
import { signStatement, STATEMENT, verifyStatement } from "../secagg/signing.js";

describe("canonical statement encoding", () => {
  it("is injective across field boundaries, types and labels", () => {
    const hex = (label: string, fields: Parameters<typeof encodeFields>[1]) => Buffer.from(encodeFields(label, fields)).toString("hex");
    const encodings = [
      hex("a", ["ab", "c"]),
      hex("a", ["a", "bc"]),
      hex("a", [["ab", "c"]]),
      hex("a", [["ab"], "c"]),
      hex("a", [new TextEncoder().encode("ab"), "c"]),
      hex("ab", ["c"]),
      hex("a", [1]),
      hex("a", ["\u0001"]),
    ];
    expect(new Set(encodings).size).toBe(encodings.length);
  });
});

describe("Ed25519 statements", () => {
  const { secretKey, publicKey } = ed25519.keygen();
  const fields = [new Uint8Array([1, 2]), "job-1", ["a", "b"], 3];

  it("verifies what was signed, and nothing else", () => {
    const signature = signStatement({ label: STATEMENT.maskedInput, fields, secretKey });
    expect(verifyStatement({ label: STATEMENT.maskedInput, fields, signature, publicKey })).toBe(true);
    expect(verifyStatement({ label: STATEMENT.advertiseKeys, fields, signature, publicKey })).toBe(false);
    expect(verifyStatement({ label: STATEMENT.maskedInput, fields: [...fields.slice(0, 3), 4], signature, publicKey })).toBe(false);
    expect(verifyStatement({ label: STATEMENT.maskedInput, fields, signature, publicKey: ed25519.keygen().publicKey })).toBe(false);
  });

  it("treats malformed signatures and keys as invalid instead of throwing", () => {
    expect(verifyStatement({ label: STATEMENT.maskedInput, fields, signature: new Uint8Array(3), publicKey })).toBe(false);
    expect(verifyStatement({ label: STATEMENT.maskedInput, fields, signature: new Uint8Array(64), publicKey: new Uint8Array(32).fill(0xff) })).toBe(false);
  });
});

describe("PRG", () => {
  it("is AES-256 applied to the counter blocks 0, 1, 2, … (cross-checked against ECB)", () => {
    const seed = new Uint8Array(randomBytes(32));
    // One ring element spans BYTES_PER_ELEMENT / 16 AES blocks.
    const count = (5 * BYTES_PER_ELEMENT) / 16;
    const blocks = Buffer.alloc(16 * count);
    for (let i = 0; i < count; i++) blocks.writeUInt32BE(i, 16 * i + 12);
    const ecb = createCipheriv("aes-256-ecb", seed, null).setAutoPadding(false);
    const expected = Buffer.concat([ecb.update(blocks), ecb.final()]);
    const mask = expandMask(seed, 5);
    expect(Buffer.from(mask.buffer).equals(expected)).toBe(true);
  });

  it("is deterministic per seed, different across seeds, and handles multi-chunk lengths", () => {
    const seed = new Uint8Array(randomBytes(32));
    const bytes = (v: Uint32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    const long = bytes(expandMask(seed, 100_000));
    expect(long.equals(bytes(expandMask(seed, 100_000)))).toBe(true);
    expect(long.subarray(0, 100 * BYTES_PER_ELEMENT).equals(bytes(expandMask(seed, 100)))).toBe(true);
    expect(long.equals(bytes(expandMask(new Uint8Array(randomBytes(32)), 100_000)))).toBe(false);
    expect(() => expandMask(new Uint8Array(16), 1)).toThrow(/32 bytes/);
  });
});
