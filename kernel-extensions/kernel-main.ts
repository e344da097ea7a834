#!/usr/bin/env node
/**
 * The process Jupyter starts for the `werkplaats` kernel (see kernelspec.ts):
 * `node kernel-main.js --config-path CONNECTION_FILE`, in the notebook's folder.
 *
 * It is tslab, started in-process after adding the two resolution fallbacks of resolution.ts.
 * We call tslab's startKernel with enableFindLocal off: otherwise tslab hands over to a tslab
 * it finds in a node_modules above the notebook, whose TypeScript instance we have not patched.
 */
import { createRequire } from "node:module";
import { packageRoot } from "../common/package-root.js";
import { installRuntimeResolution, installTypeResolution, needsOwnPackage, type TsSys } from "./resolution.js";

interface TslabMain {
  startKernel(options: { configPath: string; enableFindLocal: boolean; jsKernel: boolean; globalVersion: string }): void;
}

function configPathOf(argv: readonly string[]): string {
  const i = argv.indexOf("--config-path");
  if (i >= 0 && argv[i + 1] !== undefined) return argv[i + 1];
  const joined = argv.find((a) => a.startsWith("--config-path="));
  if (joined) return joined.slice("--config-path=".length);
  process.stderr.write("usage: kernel-main.js --config-path CONNECTION_FILE (started by Jupyter)\n");
  process.exit(2);
}

const configPath = configPathOf(process.argv.slice(2));
const root = packageRoot();
const require = createRequire(import.meta.url);
const tslabMainPath = require.resolve("tslab/dist/main.js");
const fromTslab = createRequire(tslabMainPath);
const ts = fromTslab("@tslab/typescript-for-tslab") as { sys: TsSys };

if (needsOwnPackage(process.cwd(), root)) installTypeResolution(ts.sys, { cwd: process.cwd(), root });
installRuntimeResolution(root);

(fromTslab(tslabMainPath) as TslabMain).startKernel({ configPath, enableFindLocal: false, jsKernel: false, globalVersion: "" });
