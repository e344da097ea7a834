import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { KERNEL_DISPLAY_NAME, kernelJson } from "../kernel-extensions/kernelspec.js";
import { entryPoints, needsOwnPackage } from "../kernel-extensions/resolution.js";

const root = resolve(import.meta.dirname, "..");
const cli = join(root, "dist", "cli", "main.js");
const notebooks = join(root, "notebooks");
const temps: string[] = [];

function temp(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

function werkplaats(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", env, timeout: 60_000 });
}

/** Run an ES module snippet in a fresh Node process with `cwd` (tslab reads process.cwd()). */
function node(cwd: string, source: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ["--input-type=module", "-e", source], { cwd, encoding: "utf8", timeout: 60_000 });
}

describe("the kernelspec", () => {
  it("runs the launcher with this Node and passes the connection file as tslab does", () => {
    const k = kernelJson();
    expect(k.argv).toEqual([process.execPath, join(root, "dist", "kernel-extensions", "kernel-main.js"), "--config-path", "{connection_file}"]);
    expect(k.display_name).toBe("TypeScript (werkplaats)");
    expect(k.language).toBe("typescript");
    expect(existsSync(k.argv[1])).toBe(true);
  });
});

describe("werkplaats kernel install / uninstall", () => {
  it("installs into a prefix where Jupyter lists it, and uninstalls it again", () => {
    const prefix = temp("werkplaats-kernel-test-");
    const installed = werkplaats(["kernel", "install", "--prefix", prefix]);
    expect(installed.stderr.replace(/.*(Debugger|frozen|PYDEVD|0\.00s).*\n?/g, "")).toBe("");
    expect(installed.status).toBe(0);
    const dir = join(prefix, "share", "jupyter", "kernels", "werkplaats");
    expect(installed.stdout).toContain(dir);
    const spec = JSON.parse(readFileSync(join(dir, "kernel.json"), "utf8"));
    expect(spec).toEqual(JSON.parse(JSON.stringify(kernelJson())));

    const listed = spawnSync("/usr/bin/python3", ["-m", "jupyter_client.kernelspecapp", "list", "--json"], {
      encoding: "utf8",
      env: { ...process.env, JUPYTER_PATH: join(prefix, "share", "jupyter") },
    });
    expect(listed.status, listed.stderr).toBe(0);
    const specs = JSON.parse(listed.stdout).kernelspecs;
    expect(specs.werkplaats.resource_dir).toBe(dir);
    expect(specs.werkplaats.spec.display_name).toBe(KERNEL_DISPLAY_NAME);

    const removed = werkplaats(["kernel", "uninstall", "--prefix", prefix]);
    expect(removed.status).toBe(0);
    expect(removed.stdout).toContain(`removed Jupyter kernel "werkplaats" from ${dir}`);
    expect(existsSync(dir)).toBe(false);
    expect(werkplaats(["kernel", "uninstall", "--prefix", prefix]).stdout).toContain("no Jupyter kernel");
  });

  it("exits 3 and says what to install when the named Python has no Jupyter", () => {
    const r = werkplaats(["kernel", "install", "--prefix", temp("werkplaats-kernel-test-"), "--python", "/bin/false"]);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain("apt-get install jupyter-client python3-ipykernel");
    expect(r.stderr).toContain("pip install jupyterlab");
  });

  it("has --help and refuses unknown actions and conflicting scopes with exit 2", () => {
    const help = werkplaats(["kernel", "--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("werkplaats kernel install [--user | --sys-prefix | --prefix P] [--python PATH]");
    expect(werkplaats(["kernel", "reinstall"]).status).toBe(2);
    expect(werkplaats(["kernel", "install", "--user", "--prefix", "/tmp/x"]).status).toBe(2);
  });
});

describe("import resolution in the kernel", () => {
  it("knows the package's entry points, including the notebook helpers", () => {
    const entries = entryPoints(root);
    expect(entries.get(".")).toEqual({ js: "./dist/sdk/index.js", types: "./dist/sdk/index.d.ts" });
    expect(entries.get("./notebook")?.js).toBe("./dist/kernel-extensions/index.js");
    expect(needsOwnPackage(notebooks, root)).toBe(true);
  });

  // tslab's TypeScript 5.0 uses node10 resolution and reads no tsconfig.json: in notebooks/ of a
  // fresh clone "werkplaats" is not found without the kernel's fallback.
  const typeCheck = (patch: boolean) => `
    import { createRequire } from "node:module";
    import { installTypeResolution } from ${JSON.stringify(join(root, "dist", "kernel-extensions", "resolution.js"))};
    const req = createRequire(${JSON.stringify(join(root, "node_modules", "tslab", "dist", "main.js"))});
    const ts = req("@tslab/typescript-for-tslab");
    if (${patch}) installTypeResolution(ts.sys, { cwd: process.cwd(), root: ${JSON.stringify(root)} });
    const conv = req("./converter.js").createConverter({ isJS: false, isBrowser: false });
    const out = conv.convert("", [
      'import { Federation, CountResult } from "werkplaats";',
      'import { show, startLocalStudy, type LocalStudy } from "werkplaats/notebook";',
      'let study: LocalStudy | undefined;',
      'const n: number = 1;',
      'const r: CountResult | undefined = undefined;',
      'const df = r ? await r.toDataFrame() : undefined;',
      'const s: string = Federation.name + typeof show + typeof startLocalStudy;',
    ].join("\\n"));
    conv.close();
    console.log(JSON.stringify(out.diagnostics.map((d) => d.messageText)));
  `;

  it("tslab's type checker does not find werkplaats in notebooks/ on its own", () => {
    const r = node(notebooks, typeCheck(false));
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).join("\n")).toContain("Cannot find module 'werkplaats'");
  });

  it("with the kernel's fallback the type checker accepts both imports, danfojs types included", () => {
    const r = node(notebooks, typeCheck(true));
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
  });

  it("at run time resolves werkplaats by self-reference in notebooks/, and from any folder with the fallback; ESM-only deps load", () => {
    const elsewhere = temp("werkplaats-kernel-cwd-");
    const source = `
      import { createRequire } from "node:module";
      import { join } from "node:path";
      import { installRuntimeResolution } from ${JSON.stringify(join(root, "dist", "kernel-extensions", "resolution.js"))};
      const fromHere = createRequire(join(process.cwd(), "src.js"));
      const before = (() => { try { return fromHere.resolve("werkplaats"); } catch { return "not found"; } })();
      installRuntimeResolution(${JSON.stringify(root)});
      const sdk = fromHere("werkplaats");              // require(esm) of dist/sdk, as a tslab cell does
      const helpers = fromHere("werkplaats/notebook");
      const noble = fromHere(${JSON.stringify(join(root, "node_modules", "@noble", "curves", "ed25519.js"))});
      console.log(JSON.stringify({ before, federation: typeof sdk.Federation, show: typeof helpers.show, x25519: typeof noble.x25519 }));
    `;
    const inside = node(notebooks, source);
    expect(inside.status, inside.stderr).toBe(0);
    expect(JSON.parse(inside.stdout)).toEqual({ before: join(root, "dist", "sdk", "index.js"), federation: "function", show: "function", x25519: "object" });
    const outside = node(elsewhere, source);
    expect(outside.status, outside.stderr).toBe(0);
    expect(JSON.parse(outside.stdout)).toEqual({ before: "not found", federation: "function", show: "function", x25519: "object" });
  });
});
