import { BadInput } from "./errors.js";

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

export function fromHex(text: string, what: string, expectedBytes?: number): Uint8Array {
  if (!/^([0-9a-fA-F]{2})*$/.test(text)) throw new BadInput(`${what} is not hexadecimal`);
  const out = new Uint8Array(Buffer.from(text, "hex"));
  if (expectedBytes !== undefined && out.length !== expectedBytes) {
    throw new BadInput(`${what} must be ${expectedBytes} bytes, got ${out.length}`);
  }
  return out;
}
