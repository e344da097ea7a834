import { SCENARIOS, writeScenario } from "../../synth/index.js";
import { parseArgs, wholeNumber } from "../args.js";
import { UsageError } from "../exit-codes.js";

const HELP = `werkplaats synth SCENARIO --out DIR [--stations K] [--rows N] [--seed S] [--json]

Writes one CSV per station and truth.json (the true model coefficients) into DIR.
Same seed, same files.

Scenarios:
${SCENARIOS.map((s) => `  ${s.name.padEnd(16)} ${s.description}`).join("\n")}
`;

export async function synthCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs(
    argv,
    { out: { type: "string" }, stations: { type: "string" }, rows: { type: "string" }, seed: { type: "string" }, json: { type: "boolean" } },
    "synth",
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`synth takes one scenario\n${HELP}`);
  if (!values.out) throw new UsageError("synth needs --out DIR");
  const written = await writeScenario({
    scenario: positionals[0],
    stations: wholeNumber(values.stations, "stations", 3),
    rows: wholeNumber(values.rows, "rows", 2000),
    seed: wholeNumber(values.seed, "seed", 1),
    out: values.out,
  });
  if (values.json) process.stdout.write(JSON.stringify(written) + "\n");
  else process.stdout.write(`wrote ${written.files.join(", ")}\ntruth: ${written.truthFile}\n`);
  return 0;
}
