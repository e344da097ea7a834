/**
 * The pseudorandom generator PRG of Bonawitz et al. §3: a 32-byte seed expands into a mask of
 * d ring elements. AES-256-CTR keyed by the seed is a standard PRG, and with AES-NI it produces
 * the 1.6 MB of a 10^5-element mask in about a millisecond.
 *
 * A fixed all-zero IV is sound here: the key is a fresh per-job seed (self-mask seed b, or a
 * pairwise seed derived per job in masked-input.ts) that is never used as an encryption key, and
 * a seed is meant to define exactly one stream — both ends of a pairwise mask must get the same
 * one. The counter never repeats within a stream.
 */
import { createCipheriv } from "node:crypto";
import { BadInput } from "../common/errors.js";
import { assertLittleEndianHost } from "./fixedpoint.js";
import { BYTES_PER_ELEMENT, LIMBS_PER_ELEMENT, SEED_BYTES } from "./params.js";

const ZERO_IV = new Uint8Array(16);
const CHUNK_BYTES = 1 << 20;
let zeros = new Uint8Array(0);

/** PRG(seed) as `elements` ring elements (uniform in Z_{2^RING_BITS}). */
export function expandMask(seed: Uint8Array, elements: number): Uint32Array {
  assertLittleEndianHost();
  if (seed.length !== SEED_BYTES) throw new BadInput(`a PRG seed is ${SEED_BYTES} bytes, got ${seed.length}`);
  if (!Number.isInteger(elements) || elements < 0) throw new BadInput(`mask length must be a natural number, got ${elements}`);
  const out = new Uint32Array(elements * LIMBS_PER_ELEMENT);
  const bytes = new Uint8Array(out.buffer);
  const cipher = createCipheriv("aes-256-ctr", seed, ZERO_IV);
  // Encrypting zeros yields the bare keystream; a shared zero chunk bounds scratch memory.
  const total = elements * BYTES_PER_ELEMENT;
  if (zeros.length < Math.min(total, CHUNK_BYTES)) zeros = new Uint8Array(Math.min(total, CHUNK_BYTES));
  for (let offset = 0; offset < total; offset += CHUNK_BYTES) {
    const length = Math.min(CHUNK_BYTES, total - offset);
    bytes.set(cipher.update(zeros.subarray(0, length)), offset);
  }
  return out;
}
