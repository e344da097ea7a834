/** `npm run bench -- NAME`: benchmark scripts that print figures; never timed tests. */
import { benchGlm } from "./glm.js";
import { benchRelease } from "./release.js";
import { benchLocalStations, benchSecagg } from "./secagg.js";
import { benchSources } from "./sources.js";

const BENCHES: Record<string, () => Promise<void>> = {
  secagg: () => benchSecagg({ name: "secagg", stations: [3, 10, 30], lengths: [10, 1000, 100_000] }),
  scale: () => benchSecagg({ name: "scale", stations: [3, 10, 30, 50], lengths: [1000] }),
  // One job over 50 real station processes (TLS, signatures, policy, audit): too heavy for the tests.
  stations50: () => benchLocalStations({ stations: 50, rows: 200 }),
  glm: () => benchGlm(),
  sources: () => benchSources(),
  // The stations' combined-table release decision against the per-station check it replaces.
  release: () => benchRelease(),
};

const name = process.argv[2];
const run = name ? BENCHES[name] : undefined;
if (!run) {
  process.stderr.write(`usage: npm run bench -- ${Object.keys(BENCHES).join("|")}\n`);
  process.exit(2);
}
run().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench ${name} failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
