/**
 * Stations of a local federation belong to the process that started them: when a notebook kernel
 * or script is killed outright (SIGKILL, no exit handlers), its stations stop too.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { packageRoot } from "../common/package-root.js";

const work = mkdtempSync(join(tmpdir(), "werkplaats-orphans-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("stations started by a process that is killed", () => {
  it("stop by themselves instead of lingering", async () => {
    const script = `
      import { LocalFederation } from "./dist/sdk/index.js";
      import { writeScenario } from "./dist/synth/index.js";
      const data = await writeScenario({ scenario: "fall-risk", stations: 3, rows: 300, seed: 4, out: ${JSON.stringify(join(work, "data"))} });
      const local = await LocalFederation.start({ dir: ${JSON.stringify(join(work, "stations"))}, stations: data.files.map((f, i) => ({ name: "s" + i, datasets: { fall_risk: f } })) });
      console.log(JSON.stringify(["s0", "s1", "s2"].map((n) => local.process(n).pid)));
      setInterval(() => {}, 1000);
    `;
    const parent = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: packageRoot(), stdio: ["ignore", "pipe", "inherit"] });
    const pids = await new Promise<number[]>((resolve, reject) => {
      let out = "";
      parent.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
        const line = out.split("\n").find((l) => l.startsWith("["));
        if (line) resolve(JSON.parse(line) as number[]);
      });
      parent.once("exit", (code) => reject(new Error(`the parent exited with ${code} before starting its stations`)));
    });
    expect(pids.every(alive)).toBe(true);
    parent.kill("SIGKILL");
    // Stations check on their parent every second; allow generously for a loaded machine.
    const deadline = Date.now() + 15_000;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(pids.filter(alive)).toEqual([]);
  });
});
