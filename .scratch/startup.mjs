import { writeScenario } from "../dist/synth/index.js";
import { initStation, loadConfig, saveConfig } from "../dist/station-daemon/config.js";
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
rmSync("/tmp/st-start", { recursive: true, force: true });
const d = await writeScenario({ scenario: "fall-risk", stations: 1, rows: 100000, seed: 5, out: "/tmp/st-start/data" });
let t = performance.now();
const r = initStation({ dir: "/tmp/st-start/s", name: "gp", data: [{ name: "fall_risk", file: d.files[0] }] });
saveConfig("/tmp/st-start/s", { ...loadConfig("/tmp/st-start/s"), roster: [{ name: "gp", identityKey: r.publicKey }] });
console.log("init ms", (performance.now() - t).toFixed(0));
for (let i = 0; i < 2; i++) {
t = performance.now();
const child = spawn(process.execPath, ["--cpu-prof", "--cpu-prof-dir=/tmp/st-prof", "dist/cli/main.js", "station", "start", "/tmp/st-start/s"], { stdio: ["ignore", "pipe", "inherit"] });
await new Promise((r) => child.stdout.on("data", (c) => { if (/listening/.test(String(c))) r(); }));
console.log("start ms", (performance.now() - t).toFixed(0));
child.kill("SIGTERM"); await new Promise((r) => child.on("exit", r));
}
