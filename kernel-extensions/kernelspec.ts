/**
 * The `werkplaats` Jupyter kernelspec: a tslab TypeScript kernel that can always import the
 * werkplaats installation that registered it (see kernel-main.ts for why it is not plain tslab).
 *
 * We write kernel.json ourselves and hand the folder to `jupyter kernelspec install` of the
 * Python that has Jupyter, so Jupyter decides where user, sys-prefix and system kernels live.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { WerkplaatsError } from "../common/errors.js";
import { packageRoot } from "../common/package-root.js";
import { SOFTWARE_VERSION } from "../common/version.js";

export const KERNEL_NAME = "werkplaats";
export const KERNEL_DISPLAY_NAME = "TypeScript (werkplaats)";

/** What to install when no Python with Jupyter can be found. */
export const JUPYTER_INSTALL_HINT = `Install Jupyter, then run this again:
  Debian/Ubuntu:  sudo apt-get install jupyter-client python3-ipykernel jupyter-nbconvert python3-nbclient
                  (add jupyter-notebook, or pip install jupyterlab, to edit notebooks in a browser)
  any Python:     python3 -m pip install jupyterlab
If Jupyter lives in a Python that is not on PATH, name it: --python /path/to/python3`;

/** Jupyter could not be found or run; the CLI exits 3 with this message. */
export class JupyterMissing extends WerkplaatsError {
  constructor(detail: string) {
    super("BAD_INPUT", `${detail}\n${JUPYTER_INSTALL_HINT}`);
  }
}

export interface KernelJson {
  argv: string[];
  display_name: string;
  language: string;
  interrupt_mode: "signal";
  metadata: { werkplaats: { version: string; root: string } };
}

/** The kernel.json content: Node (this one) runs our launcher, which starts tslab in-process. */
export function kernelJson(options: { root?: string; node?: string } = {}): KernelJson {
  const root = options.root ?? packageRoot();
  return {
    // "--config-path" and "{connection_file}" are separate arguments, as in tslab's own kernelspec
    // (tslab issue #36: a joined "--config-path={connection_file}" breaks on some Jupyter front ends).
    argv: [options.node ?? process.execPath, join(root, "dist", "kernel-extensions", "kernel-main.js"), "--config-path", "{connection_file}"],
    display_name: KERNEL_DISPLAY_NAME,
    language: "typescript",
    interrupt_mode: "signal",
    metadata: { werkplaats: { version: SOFTWARE_VERSION, root } },
  };
}

/** How to run `jupyter kernelspec …`: a command and the arguments before the subcommand. */
export interface KernelspecTool {
  command: string;
  args: string[];
  /** For messages: how the tool was found. */
  description: string;
}

function runs(tool: KernelspecTool): boolean {
  const r = spawnSync(tool.command, [...tool.args, "list", "--json"], { encoding: "utf8", timeout: 30_000 });
  if (r.error || r.status !== 0) return false;
  try {
    return typeof (JSON.parse(r.stdout) as { kernelspecs?: unknown }).kernelspecs === "object";
  } catch {
    return false;
  }
}

function onPath(name: string, pathVar = process.env.PATH ?? ""): string | undefined {
  for (const dir of pathVar.split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * The first Python with Jupyter that works: `--python` if given (and then only that one),
 * else `jupyter` on PATH, else Debian's /usr/bin/python3, else `python3` on PATH.
 */
export function findKernelspecTool(options: { python?: string } = {}): KernelspecTool {
  const viaPython = (python: string): KernelspecTool => ({
    command: python,
    args: ["-m", "jupyter_client.kernelspecapp"],
    description: `${python} -m jupyter_client.kernelspecapp`,
  });
  if (options.python !== undefined) {
    const tool = viaPython(options.python);
    if (!runs(tool)) throw new JupyterMissing(`${options.python} cannot run jupyter_client (is Jupyter installed in that Python?).`);
    return tool;
  }
  const candidates: KernelspecTool[] = [];
  const jupyter = onPath("jupyter");
  if (jupyter) candidates.push({ command: jupyter, args: ["kernelspec"], description: `${jupyter} kernelspec` });
  if (existsSync("/usr/bin/python3")) candidates.push(viaPython("/usr/bin/python3"));
  const python3 = onPath("python3");
  if (python3 && python3 !== "/usr/bin/python3") candidates.push(viaPython(python3));
  for (const c of candidates) if (runs(c)) return c;
  const tried = candidates.map((c) => c.description).join(", ") || "no jupyter or python3 on PATH";
  throw new JupyterMissing(`Jupyter was not found (tried: ${tried}).`);
}

export type InstallScope = { user: true } | { sysPrefix: true } | { prefix: string } | Record<string, never>;

export interface InstallOptions {
  scope?: InstallScope;
  python?: string;
  /** Package root whose dist/ and node_modules/tslab the kernel uses (default: this one). */
  root?: string;
}

function scopeArgs(scope: InstallScope | undefined): string[] {
  if (scope && "prefix" in scope) return [`--prefix=${scope.prefix}`];
  if (scope && "sysPrefix" in scope) return ["--sys-prefix"];
  if (scope && "user" in scope) return ["--user"];
  // Like tslab's installer: a non-root user cannot write the system kernel folder.
  return process.getuid?.() === 0 ? [] : ["--user"];
}

/** Register the kernel; returns the folder Jupyter installed it in. */
export function installKernel(options: InstallOptions = {}): { dir: string; kernel: KernelJson; tool: KernelspecTool } {
  const root = options.root ?? packageRoot();
  const launcher = join(root, "dist", "kernel-extensions", "kernel-main.js");
  if (!existsSync(launcher)) throw new WerkplaatsError("BAD_INPUT", `${launcher} is missing; run "npm run build" first`);
  const tool = findKernelspecTool({ python: options.python });
  const kernel = kernelJson({ root });
  const staging = mkdtempSync(join(tmpdir(), "werkplaats-kernelspec-"));
  try {
    writeFileSync(join(staging, "kernel.json"), JSON.stringify(kernel, null, 2) + "\n");
    const r = spawnSync(tool.command, [...tool.args, "install", staging, `--name=${KERNEL_NAME}`, ...scopeArgs(options.scope)], {
      encoding: "utf8",
      timeout: 60_000,
    });
    if (r.error || r.status !== 0) {
      throw new WerkplaatsError("BAD_INPUT", `${tool.description} install failed (exit ${r.status ?? r.error?.message}):\n${(r.stderr ?? "").trim()}`);
    }
    // jupyter_client reports "Installed kernelspec NAME in DIR" on stderr (stdout in some versions).
    const m = /Installed kernelspec \S+ in (.+)/.exec(`${r.stderr}\n${r.stdout}`);
    return { dir: m ? m[1].trim() : "(unknown folder)", kernel, tool };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function isOurs(dir: string): boolean {
  try {
    const k = JSON.parse(readFileSync(join(dir, "kernel.json"), "utf8")) as Partial<KernelJson>;
    return k.metadata?.werkplaats !== undefined;
  } catch {
    return false;
  }
}

/**
 * Remove the kernel. With a prefix we remove `PREFIX/share/jupyter/kernels/werkplaats` ourselves
 * (Jupyter does not search arbitrary prefixes); otherwise Jupyter removes the one it would use.
 * Returns the folder removed, or undefined when none was installed.
 */
export function uninstallKernel(options: { prefix?: string; python?: string } = {}): string | undefined {
  if (options.prefix !== undefined) {
    const dir = join(options.prefix, "share", "jupyter", "kernels", KERNEL_NAME);
    if (!existsSync(dir)) return undefined;
    if (!isOurs(dir)) throw new WerkplaatsError("BAD_INPUT", `${dir} is not a werkplaats kernel; not removing it`);
    rmSync(dir, { recursive: true, force: true });
    return dir;
  }
  const tool = findKernelspecTool({ python: options.python });
  const list = spawnSync(tool.command, [...tool.args, "list", "--json"], { encoding: "utf8", timeout: 30_000 });
  const specs = (JSON.parse(list.stdout) as { kernelspecs: Record<string, { resource_dir: string }> }).kernelspecs;
  const dir = specs[KERNEL_NAME]?.resource_dir;
  if (dir === undefined) return undefined;
  const r = spawnSync(tool.command, [...tool.args, "uninstall", "-y", KERNEL_NAME], { encoding: "utf8", timeout: 30_000 });
  if (r.error || r.status !== 0) {
    throw new WerkplaatsError("BAD_INPUT", `${tool.description} uninstall failed (exit ${r.status ?? r.error?.message}):\n${(r.stderr ?? "").trim()}`);
  }
  return dir;
}
