import { existsSync, readFileSync, statSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { keysCommand } from "../cli/commands/keys.js";
import { toHex } from "../common/hex.js";
import { loadResearcherKeys } from "../sdk/auth/researcher-keys.js";
import { tempDir } from "./helpers/temp.js";

describe("werkplaats keys new", () => {
  afterEach(() => vi.restoreAllMocks());

  it("writes researcher.key with mode 0600 and researcher.pub, and refuses to overwrite them", async () => {
    const dir = join(tempDir("wp-keys-"), "alice");
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    expect(await keysCommand(["new", "--out", dir, "--json"])).toBe(0);
    const printed = JSON.parse(String(out.mock.calls[0][0]));
    expect(statSync(join(dir, "researcher.key")).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o077).toBe(0);
    const pub = readFileSync(join(dir, "researcher.pub"), "utf8").trim();
    expect(pub).toBe(printed.publicKey);
    const keys = loadResearcherKeys(dir);
    expect(toHex(keys.publicKey)).toBe(pub);
    expect(toHex(ed25519.getPublicKey(keys.secretKey))).toBe(pub);
    const before = readFileSync(join(dir, "researcher.key"), "utf8");
    await expect(keysCommand(["new", "--out", dir])).rejects.toThrow(/exists already; not overwriting/);
    expect(readFileSync(join(dir, "researcher.key"), "utf8")).toBe(before);
  });

  it("refuses to load a secret key that others can read", async () => {
    const dir = tempDir("wp-keys-");
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    await keysCommand(["new", "--out", dir]);
    chmodSync(join(dir, "researcher.key"), 0o644);
    expect(() => loadResearcherKeys(dir)).toThrow(/readable by others/);
    expect(existsSync(join(dir, "researcher.pub"))).toBe(true);
  });

  it("needs --out", async () => {
    await expect(keysCommand(["new"])).rejects.toThrow(/needs --out DIR/);
  });
});
