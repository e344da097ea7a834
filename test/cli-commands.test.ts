/**
 * The command line as a newcomer meets it: every command answers --help, the demo of the Quick
 * start runs to the end, and a typo is a usage error (exit 2), not a crash.
 */
import { describe, expect, it } from "vitest";
import { runCli as cli } from "./helpers/cli.js";


describe("werkplaats command line", () => {
  it("lists every command of the design in its help", async () => {
    const run = await cli(["--help"]);
    expect(run.code).toBe(0);
    for (const command of ["demo", "synth", "station init", "station policy check", "station audit", "station score", "keys new", "kernel install", "glm", "query", "replay"]) {
      expect(run.stdout).toContain(`werkplaats ${command}`);
    }
  });

  for (const command of [["demo"], ["synth"], ["station"], ["keys"], ["kernel"], ["glm"], ["query"], ["replay"], ["station", "init"], ["station", "audit"], ["station", "score"], ["station", "policy"]]) {
    it(`answers ${command.join(" ")} --help with usage and exit 0`, async () => {
      const run = await cli([...command, "--help"]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout.toLowerCase()).toMatch(/werkplaats|usage/);
    });
  }

  it("calls an unknown command or option a usage error (exit 2)", async () => {
    expect((await cli(["analyse"])).code).toBe(2);
    expect((await cli(["synth", "fall-risk", "--out", "/tmp/x", "--bogus"])).code).toBe(2);
  });

  it("runs the Quick start demo to the end: counts by buurt in one job, a model, exit 0", async () => {
    const run = await cli(["demo"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Clients in all three organisations: \d+/);
    expect(run.stdout).toMatch(/the stations withhold combined cells of 1 to 9 people/);
    expect(run.stdout).toMatch(/BU\d+/);
    expect(run.stdout).toMatch(/prior_fallTRUE\s+\d+\.\d+/);
    expect(run.stdout).toMatch(/AUC 0\.\d{3}/);
    expect(run.stderr).toMatch(/stopping stations/);
  });
});
