/**
 * How a notebook running in the `werkplaats` kernel finds `import … from "werkplaats"`.
 *
 * Two resolvers are involved and they differ:
 * - at run time tslab compiles a cell to CommonJS and calls a `require` created at the notebook's
 *   folder. Node resolves "werkplaats" from node_modules, or by the package's self-reference
 *   (its `exports`) when the notebook sits inside the werkplaats package, as notebooks/ does.
 * - the type checker is tslab's bundled TypeScript 5.0 with hard-wired `moduleResolution: node10`
 *   and no tsconfig.json: it ignores `exports`, has no self-reference, and ignores `paths`. In
 *   notebooks/ of a fresh clone it reports "Cannot find module 'werkplaats'" and refuses the cell.
 *
 * So the kernel adds one fallback to each, both pointing at the installation that registered the
 * kernel: a package the notebook's own folder resolves wins, as Node would have it; only when
 * there is none (or it is this same package) does the kernel supply its own.
 */
import { existsSync, readFileSync } from "node:fs";
import Module, { createRequire } from "node:module";
import { isAbsolute, join, relative, resolve, sep } from "node:path";

export const PACKAGE_NAME = "werkplaats";

export interface EntryPoint {
  /** Declaration file, relative to the package root. */
  types?: string;
  /** JavaScript file, relative to the package root. */
  js: string;
}

/**
 * The notebook helpers' entry point. Used when package.json does not (yet) list it in `exports`;
 * an `exports` entry of the same subpath takes precedence.
 */
export const NOTEBOOK_ENTRY: Readonly<Record<string, EntryPoint>> = {
  "./notebook": { types: "./dist/kernel-extensions/index.d.ts", js: "./dist/kernel-extensions/index.js" },
};

type ExportsValue = string | null | { [condition: string]: ExportsValue };

function pick(value: ExportsValue | undefined, conditions: readonly string[]): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  for (const [condition, inner] of Object.entries(value)) {
    if (conditions.includes(condition)) {
      const found = pick(inner, conditions);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Subpath → files, from package.json `exports` (then `types`/`main`), plus the notebook entry. */
export function entryPoints(root: string): Map<string, EntryPoint> {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    exports?: Record<string, ExportsValue> | string;
    main?: string;
    types?: string;
  };
  const entries = new Map<string, EntryPoint>(Object.entries(NOTEBOOK_ENTRY));
  const exportsMap: Record<string, ExportsValue> =
    typeof pkg.exports === "string" ? { ".": pkg.exports } : (pkg.exports ?? { ".": pkg.main ?? "./index.js" });
  for (const [subpath, value] of Object.entries(exportsMap)) {
    if (subpath.includes("*")) continue;
    const js = pick(value, ["node", "require", "import", "default"]);
    if (js === undefined || !/\.[cm]?js$/.test(js)) continue;
    const types = pick(value, ["types"]) ?? (subpath === "." ? pkg.types : undefined);
    entries.set(subpath, { js, types });
  }
  return entries;
}

function subpathOf(request: string): string | undefined {
  if (request === PACKAGE_NAME) return ".";
  if (request.startsWith(`${PACKAGE_NAME}/`)) return `./${request.slice(PACKAGE_NAME.length + 1)}`;
  return undefined;
}

/** Which werkplaats a `require("werkplaats")` from `dir` finds on its own, if any. */
export function resolvesFrom(dir: string): string | undefined {
  try {
    return createRequire(join(dir, "__werkplaats_probe__.js")).resolve(PACKAGE_NAME);
  } catch {
    return undefined;
  }
}

/** True when the notebook folder has no werkplaats of its own (or only this very package). */
export function needsOwnPackage(cwd: string, root: string): boolean {
  const found = resolvesFrom(cwd);
  return found === undefined || resolve(found).startsWith(resolve(root) + sep);
}

type ResolveFilename = (request: string, parent: unknown, isMain: boolean, options?: unknown) => string;

/**
 * Run time: when Node cannot resolve "werkplaats" or "werkplaats/…" (no node_modules copy, or a
 * subpath the package does not export yet), resolve it to this package's entry point.
 */
export function installRuntimeResolution(root: string): void {
  const entries = entryPoints(root);
  const M = Module as unknown as { _resolveFilename: ResolveFilename };
  const original = M._resolveFilename;
  M._resolveFilename = function (this: unknown, request, parent, isMain, options) {
    try {
      return original.call(this, request, parent, isMain, options);
    } catch (err) {
      const subpath = subpathOf(request);
      const entry = subpath === undefined ? undefined : entries.get(subpath);
      if (entry !== undefined && existsSync(join(root, entry.js))) return join(root, entry.js);
      throw err;
    }
  };
}

/** The part of TypeScript's `ts.sys` that module resolution reads through. */
export interface TsSys {
  fileExists(path: string): boolean;
  readFile(path: string, encoding?: string): string | undefined;
  directoryExists(path: string): boolean;
  realpath?(path: string): string;
  watchFile?(path: string, ...rest: never[]): { close(): void };
  watchDirectory?(path: string, ...rest: never[]): { close(): void };
}

/**
 * Type checker: make `<cwd>/node_modules/werkplaats` exist for tslab's TypeScript by forwarding
 * reads to this package (tslab fakes `node_modules/tslab` the same way). node10 resolution then
 * reads package.json `types` for "werkplaats"; every other exported subpath gets a one-line
 * declaration stub at `<subpath>.d.ts` that re-exports its declaration file by absolute path.
 */
export function installTypeResolution(sys: TsSys, options: { cwd: string; root: string }): void {
  const virtualRoot = join(options.cwd, "node_modules", PACKAGE_NAME);
  if (existsSync(virtualRoot)) return;
  const stubs = new Map<string, string>();
  for (const [subpath, entry] of entryPoints(options.root)) {
    if (subpath === "." || entry.types === undefined) continue;
    // An absolute specifier, so that the declarations behind the stub are read at their real
    // paths (as "werkplaats" itself is, through realpath below) and not twice under two names.
    const target = join(options.root, entry.types).replace(/\.d\.([cm]?)ts$/, ".$1js");
    stubs.set(join(virtualRoot, `${subpath.slice(2)}.d.ts`), `export * from ${JSON.stringify(target)};\n`);
  }
  const forward = (path: string): string | undefined => {
    const rel = relative(virtualRoot, path);
    if (rel.startsWith("..") || isAbsolute(rel)) return undefined;
    return join(options.root, rel);
  };
  const { fileExists, readFile, directoryExists, realpath } = sys;
  sys.fileExists = (path) => stubs.has(path) || fileExists.call(sys, forward(path) ?? path);
  sys.readFile = (path, encoding) => stubs.get(path) ?? readFile.call(sys, forward(path) ?? path, encoding);
  sys.directoryExists = (path) => directoryExists.call(sys, forward(path) ?? path);
  // Files are then known by their real paths, as with an npm-linked package: a type from the
  // package's own dependencies (danfojs' DataFrame) is nameable from the notebook's folder, which
  // TypeScript needs when it writes the declarations of a cell's variables.
  if (realpath) sys.realpath = (path) => (stubs.has(path) ? path : realpath.call(sys, forward(path) ?? path));
  // The package's compiled files and dependencies are not watched. The kernel keeps the modules it
  // loaded until it restarts, so noticing a rebuild of dist/ could only make the type checker
  // disagree with the code that runs; and tslab's watch host throws ("Unexpected pending
  // rebuildTimer") when two such changes arrive before it recompiles.
  const frozen = [join(options.root, "dist"), join(options.root, "node_modules"), virtualRoot];
  const isFrozen = (path: string) => frozen.some((f) => path === f || path.startsWith(f + sep));
  const unwatched = { close() {} };
  const { watchFile, watchDirectory } = sys;
  if (watchFile) sys.watchFile = (path, ...rest) => (isFrozen(path) ? unwatched : watchFile.call(sys, path, ...rest));
  if (watchDirectory) sys.watchDirectory = (path, ...rest) => (isFrozen(path) ? unwatched : watchDirectory.call(sys, path, ...rest));
}
