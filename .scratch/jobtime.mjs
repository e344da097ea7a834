import { LocalFederation } from "../dist/sdk/index.js";
import { writeScenario } from "../dist/synth/index.js";
import { basename } from "node:path";
const d = await writeScenario({ scenario: "fall-risk", stations: 3, rows: 3000, seed: 5, out: "/tmp/jobtime-data" });
const local = await LocalFederation.start({ stations: d.files.map((f) => ({ name: basename(f, ".csv"), datasets: { fall_risk: f } })) });
const fed = await local.connect();
try {
  const q = fed.dataset("fall_risk").where("age >= 65");
  for (let i = 0; i < 3; i++) await q.count({ by: ["sex"] });
  let t = performance.now();
  for (let i = 0; i < 20; i++) await q.count({ by: ["sex"] });
  console.log("count job ms", ((performance.now() - t) / 20).toFixed(1));
  t = performance.now();
  const m = await fed.dataset("fall_risk").glm("fell_12m ~ age + sex + num_medications + prior_fall + dementia + mobility_aid + lives_alone", { family: "binomial" });
  console.log("glm ms", (performance.now() - t).toFixed(0), "iterations", m.iterations);
} finally { fed.close(); await local.stop(); }
