import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The werkplaats package folder, found from this module whether it runs from source or dist/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "werkplaats") return dir;
    dir = dirname(dir);
  }
  throw new Error("werkplaats: cannot find the package root");
}

/** The compiled command-line entry point that station processes run. */
export function cliEntryPoint(): string {
  const main = join(packageRoot(), "dist", "cli", "main.js");
  if (!existsSync(main)) throw new Error(`werkplaats: ${main} is missing; run "npm run build" first`);
  return main;
}
