/**
 * One canonical, injective byte encoding for everything that is signed, used as AEAD associated
 * data, or fed to a KDF as context: a domain-separation label, then each field as
 * tag ‖ u32 length ‖ body (a list: tag ‖ u32 count ‖ its strings). Distinct (label, fields)
 * never encode to the same bytes, so a signature or a key for one purpose cannot serve another.
 */
import { BadInput } from "../common/errors.js";

export type Field = Uint8Array | string | number | readonly string[];

const TAG_BYTES = 1;
const TAG_STRING = 2;
const TAG_UINT = 3;
const TAG_LIST = 4;

const utf8 = new TextEncoder();

export function encodeFields(label: string, fields: readonly Field[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const push = (tag: number, body: Uint8Array) => {
    const head = new Uint8Array(5);
    head[0] = tag;
    new DataView(head.buffer).setUint32(1, body.length);
    parts.push(head, body);
  };
  push(TAG_STRING, utf8.encode(label));
  for (const field of fields) {
    if (field instanceof Uint8Array) push(TAG_BYTES, field);
    else if (typeof field === "string") push(TAG_STRING, utf8.encode(field));
    else if (typeof field === "number") {
      if (!Number.isSafeInteger(field) || field < 0) throw new BadInput(`encoded integers must be natural numbers, got ${field}`);
      const body = new Uint8Array(8);
      new DataView(body.buffer).setBigUint64(0, BigInt(field));
      push(TAG_UINT, body);
    } else {
      const head = new Uint8Array(5);
      head[0] = TAG_LIST;
      new DataView(head.buffer).setUint32(1, field.length);
      parts.push(head);
      for (const item of field) push(TAG_STRING, utf8.encode(item));
    }
  }
  return Buffer.concat(parts);
}


/** Byte equality without early exit (the inputs are keys). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
