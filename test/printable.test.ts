import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { CountResult } from "../sdk/results/count-result.js";
import { MeanResult } from "../sdk/results/mean-result.js";

describe("results in a console or a notebook cell", () => {
  it("print as their readable table when inspected, not as a dump of arrays", () => {
    const count = new CountResult({ dataset: "fall_risk", by: [{ column: "sex", levels: ["F", "M"] }], sum: new Float64Array([120, 95]), stations: ["gp", "homecare", "hospital"] });
    const shown = inspect({ count });
    expect(shown).toContain("count of fall_risk (3 stations)");
    expect(shown).toMatch(/F\s+120/);
    expect(shown).not.toContain("Float64Array");
    const mean = new MeanResult({ dataset: "fall_risk", column: "age", by: [], sum: new Float64Array([40, 3200, 256_400]), stations: ["gp", "homecare", "hospital"] });
    expect(inspect(mean)).toContain("mean of age in fall_risk");
    expect(inspect(mean)).toMatch(/40\s+80/);
  });
});
