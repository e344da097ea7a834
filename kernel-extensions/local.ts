/**
 * A self-contained study for notebooks: synthetic data for one scenario, a station process per
 * organisation on loopback, and a connected Federation — so a notebook runs on any machine.
 *
 * Stations must not outlive the kernel. A notebook's last cell calls `stop()`; when a cell fails
 * first, the kernel is shut down and its 'exit' handler stops them. Station processes and their
 * pipes are unref'd so that they do not keep a shutting-down kernel alive.
 */
import { readFileSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { Federation } from "../sdk/federation.js";
import { LocalFederation } from "../sdk/local-federation.js";
import { type Truth, writeScenario } from "../synth/index.js";

export interface LocalStudyOptions {
  scenario: "fall-risk" | "ggz-waitlist" | "neighbourhood";
  /** Dataset name the stations publish (default: the scenario with "_", e.g. fall_risk). */
  dataset?: string;
  stations?: number;
  /** Rows per station. */
  rows?: number;
  seed?: number;
  onProgress?: (message: string) => void;
}

export interface LocalStudy {
  fed: Federation;
  dataset: string;
  stations: string[];
  /** The true models the synthetic outcomes were drawn from. */
  truth: Truth;
  /** Temporary folder with the CSVs and station folders (removed by stop()). */
  dir: string;
  stop(): Promise<void>;
}

/** Started studies and their temporary folders, for the exit handler. */
const running = new Map<LocalFederation, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const [local, dir] of running) {
      for (const s of local.federation.stations) local.process(s.name)?.kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

export async function startLocalStudy(options: LocalStudyOptions): Promise<LocalStudy> {
  const dataset = options.dataset ?? options.scenario.replace(/-/g, "_");
  const dir = await mkdtemp(join(tmpdir(), "werkplaats-notebook-"));
  let local: LocalFederation | undefined;
  try {
    const data = await writeScenario({ scenario: options.scenario, stations: options.stations ?? 3, rows: options.rows ?? 1500, seed: options.seed ?? 1, out: join(dir, "data") });
    const truth = JSON.parse(readFileSync(data.truthFile, "utf8")) as Truth;
    local = await LocalFederation.start({
      dir: join(dir, "stations"),
      stations: data.files.map((file) => ({ name: basename(file, ".csv"), datasets: { [dataset]: file } })),
      onProgress: options.onProgress,
    });
    installExitHook();
    running.set(local, dir);
    for (const s of local.federation.stations) {
      const child = local.process(s.name);
      child?.unref();
      for (const stream of [child?.stdout, child?.stderr]) (stream as unknown as { unref?: () => void } | null | undefined)?.unref?.();
    }
    const fed = await local.connect();
    const started = local;
    let stopped = false;
    return {
      fed,
      dataset,
      stations: fed.stations,
      truth,
      dir,
      async stop() {
        if (stopped) return;
        stopped = true;
        fed.close();
        await started.stop();
        running.delete(started);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (local) {
      await local.stop();
      running.delete(local);
    }
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
