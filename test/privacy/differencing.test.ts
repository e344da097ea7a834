/**
 * Attack 6 of issue 14: differencing. Two summaries whose rows differ by one person (everyone,
 * and everyone but the client aged 102: 3935 − 3925 = 10 medicines), or one indicator set with two
 * denominators differing by one person (812 vs 811: the numerator's difference is that person's
 * dementia). Each job passes the subset and cell rules on its own; the station now remembers the
 * row sets it has released per study (station-daemon/governance/released-rows.ts) and refuses a
 * job whose rows differ from an earlier one, or from another of the same job, by 1 … k−1 rows.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Federation } from "../../sdk/index.js";
import type { LocalFederation } from "../../sdk/local-federation.js";
import { RELEASED_ROWS_DIR, ReleasedRows } from "../../station-daemon/governance/released-rows.js";
import { refusal, refusalReasons, startTargetFederation } from "./target.js";

let local: LocalFederation;
let fed: Federation;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ local, fed, stop } = await startTargetFederation("werkplaats-privacy-differencing-"));
});

afterAll(async () => {
  await stop?.();
});

const EARLIER = /^station hospital refused: this job's rows differ from an earlier job of study "local" by fewer than 10 rows \(the minimum subset size\): the difference of the two would single out a few people$/;
const WITHIN = /^station hospital refused: two row sets of this job differ by fewer than 10 rows \(the minimum subset size\): their difference would single out a few people$/;

/** The job is refused, and the hospital (which holds the target) refused it for differencing. */
async function expectDifferencingRefused(job: () => Promise<unknown>, reason: RegExp): Promise<void> {
  const hospital = join(local.dir, "hospital");
  const before = refusalReasons(hospital).length;
  const err = await refusal(job());
  expect(err.code, err.message).toBe("POLICY_REFUSED");
  const reasons = refusalReasons(hospital).slice(before);
  expect(reasons.length).toBe(1);
  expect(reasons[0].replace(/^POLICY_REFUSED: /, "")).toMatch(reason);
}

describe("differencing is answered", () => {
  it("refuses the second of two summaries whose rows differ by one person", async () => {
    const everyone = await fed.dataset("fall_risk").summary("num_medications");
    expect(everyone.toString()).toMatch(/num_medications/);
    await expectDifferencingRefused(() => fed.dataset("fall_risk").where("age <= 101").summary("num_medications"), EARLIER);
    // The same pair as counts, or leaving the person out another way, is refused too.
    await expectDifferencingRefused(() => fed.dataset("fall_risk").where("age != 102").count(), EARLIER);
    await expectDifferencingRefused(() => fed.dataset("fall_risk").where("not (age == 102 and dementia)").summary("num_medications"), EARLIER);
  });

  it("refuses an indicator set whose two denominators differ by one person (812 vs 811)", async () => {
    await expectDifferencingRefused(
      () =>
        fed.dataset("fall_risk").indicators([
          { name: "dementia, 90+", numerator: "dementia", denominator: "age >= 90" },
          { name: "dementia, 90 to 101", numerator: "dementia", denominator: "age >= 90 and age <= 101" },
        ]),
      WITHIN,
    );
  });

  it("refuses a job whose rows are an earlier numerator minus one person", async () => {
    // The indicator releases the numerator "85+ with dementia"; then the same without the target.
    await fed.dataset("fall_risk").indicators([{ name: "dementia, 85+", numerator: "dementia", denominator: "age >= 85" }]);
    await expectDifferencingRefused(() => fed.dataset("fall_risk").where("age >= 85 and dementia and age <= 101").count(), EARLIER);
  });

  it("refuses a model over everyone but one person after a model over everyone", async () => {
    await fed.dataset("fall_risk").where("age >= 80").glm("num_medications ~ age", { family: "gaussian" });
    await expectDifferencingRefused(() => fed.dataset("fall_risk").where("age >= 80 and age < 102").glm("num_medications ~ age", { family: "gaussian" }), EARLIER);
  });

  it("remembers across a restart, in files only the station can read", async () => {
    await local.restart("hospital");
    fed.close();
    fed = await local.connect({ timeoutMs: 30_000 });
    await expectDifferencingRefused(() => fed.dataset("fall_risk").where("age < 102").count(), EARLIER);
    const dir = join(local.dir, "hospital", RELEASED_ROWS_DIR);
    const files = readdirSync(dir);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
  });

  it("answers honest sequences: repeated jobs, and subsets that differ by many rows", async () => {
    await fed.dataset("fall_risk").summary("num_medications");
    await fed.dataset("fall_risk").where("age >= 75").count({ by: ["sex"] });
    await fed.dataset("fall_risk").where("age >= 90").count();
    await fed.dataset("fall_risk").where("age >= 65").glm("fell_12m ~ age + sex + num_medications + prior_fall", { family: "binomial" });
    await fed.dataset("fall_risk").where("age >= 65").glm("fell_12m ~ age + sex + num_medications + prior_fall + dementia", { family: "binomial" });
  });
});

describe("the record of released row sets", () => {
  const mask = (n: number, ones: (i: number) => boolean) => Uint8Array.from({ length: n }, (_, i) => (ones(i) ? 1 : 0));
  const limits = { minDifference: 10, minRecordedSize: 10, capacity: 100 };

  it("fails closed when full, with a message naming the limit", () => {
    const dir = mkdtempSync(join(tmpdir(), "werkplaats-released-rows-"));
    try {
      const ledger = new ReleasedRows(dir).ledger({ study: "s", dataset: "d", snapshot: "x", rowCount: 4000 });
      // 100 sets, each differing from the others by at least 20 rows
      for (let k = 0; k < 100; k++) ledger.admit([mask(4000, (i) => i < 1000 + 20 * k)], limits)(); // released: recorded
      expect(() => ledger.admit([mask(4000, (i) => i < 3500)], limits)).toThrow(/record of released row sets for study "s" is full \(100 sets, disclosure.maxReleasedRowSets\)/);
      // A set already recorded adds nothing and is answered.
      expect(() => ledger.admit([mask(4000, (i) => i < 1000)], limits)).not.toThrow();
      // Read back from disk, the record is the same, and still full.
      const again = new ReleasedRows(dir).ledger({ study: "s", dataset: "d", snapshot: "x", rowCount: 4000 });
      expect(again.size).toBe(100);
      expect(() => again.admit([mask(4000, (i) => i < 1005)], limits)).toThrow(/differ from an earlier job/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
