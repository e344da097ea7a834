import { readFileSync } from "node:fs";

/** The package version, read once from package.json so provenance never drifts from the release. */
export const SOFTWARE_VERSION: string = (() => {
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "werkplaats" && pkg.version) return pkg.version;
    } catch {
      // try the next candidate: source and dist sit at different depths
    }
  }
  return "0.0.0-unknown";
})();
