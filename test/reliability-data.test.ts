/**
 * A station's data files, from the station's side: a malformed file stops it at start with an
 * error naming file, line (and column where there is one); a file with odd but readable content
 * starts and says what it read; a file changed while the station runs does not change what it
 * serves (it serves the snapshot it loaded — restart it to load the new one); and the station never
 * writes to, or keeps open, a data file.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEntryPoint } from "../common/package-root.js";
import { LocalFederation } from "../sdk/local-federation.js";
import { initStation } from "../station-daemon/config.js";
import { writeScenario } from "../synth/index.js";
import { num, readRows } from "./helpers/pooled.js";

let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "werkplaats-data-"));
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `werkplaats station start` on a station whose one dataset is `csv`; its exit code and stderr. */
function startWith(name: string, csv: string | Buffer): { status: number | null; stderr: string } {
  const file = join(work, `${name}.csv`);
  writeFileSync(file, csv);
  const dir = join(work, `station-${name}`);
  initStation({ dir, name, data: [{ name: "d", file }] });
  const run = spawnSync(process.execPath, [cliEntryPoint(), "station", "start", dir], { encoding: "utf8", timeout: 30_000 });
  return { status: run.status, stderr: run.stderr };
}

describe("malformed data files stop the station at start, naming file and line", () => {
  it("a ragged row", () => {
    const { status, stderr } = startWith("ragged", "age,sex\n70,F\n71,M,extra\n");
    expect(status).toBe(3);
    expect(stderr).toMatch(/ragged\.csv, line 3/);
  });

  it("an unterminated quote", () => {
    const { status, stderr } = startWith("quote", 'age,sex\n70,F\n71,"M\n72,F\n');
    expect(status).toBe(3);
    expect(stderr).toMatch(/quote\.csv, line 3/);
  });

  it("a duplicate column name, naming the column", () => {
    const { status, stderr } = startWith("dup", "age,sex,age\n70,F,1\n");
    expect(status).toBe(3);
    expect(stderr).toMatch(/dup\.csv.*"age"/);
  });

  it("bytes that are not UTF-8", () => {
    const { status, stderr } = startWith("latin1", Buffer.concat([Buffer.from("age,city\n70,Den Haag\n71,"), Buffer.from([0xe9, 0x0a])]));
    expect(status).toBe(3);
    expect(stderr).toMatch(/latin1\.csv, line 3/);
  });
});

describe("a station's data while it runs", () => {
  let local: LocalFederation;
  let files: string[];
  const digest = (f: string) => createHash("sha256").update(readFileSync(f)).digest("hex");

  beforeAll(async () => {
    files = (await writeScenario({ scenario: "fall-risk", stations: 3, rows: 300, seed: 41, out: join(work, "live") })).files;
    // Odd but readable columns: one with a word among numbers, one with no values at all.
    const odd = files[0];
    const lines = readFileSync(odd, "utf8").trimEnd().split("\n");
    writeFileSync(odd, [`${lines[0]},dose,notes`, ...lines.slice(1).map((l, i) => `${l},${i === 7 ? "seventy" : i},`)].join("\n") + "\n");
    local = await LocalFederation.start({
      dir: join(work, "live-stations"),
      stations: files.map((f) => ({ name: basename(f, ".csv"), datasets: { fall_risk: f } })),
    });
  });

  afterAll(async () => {
    await local?.stop();
  });

  it("reads a column with a word among numbers as categorical and an all-missing column as numeric, and says so in GetInfo", async () => {
    const fed = await local.connect({ timeoutMs: 20_000 });
    try {
      const columns = (await fed.datasets()).find((d) => d.name === "fall_risk")!.columns;
      expect(columns.find((c) => c.name === "dose")?.type).toBe("categorical");
      expect(columns.find((c) => c.name === "notes")?.type).toBe("numeric");
      // A numeric question about the text column is refused with a reason naming it.
      const err = await fed.dataset("fall_risk").where("dose >= 10").count().catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/dose/);
    } finally {
      fed.close();
    }
  });

  it("keeps serving the snapshot it loaded when a file changes under it, and never writes to or holds open its data files", async () => {
    const before = files.map((f) => ({ digest: digest(f), mtime: statSync(f).mtimeMs }));
    const fed = await local.connect({ timeoutMs: 20_000 });
    try {
      const count = () => fed.dataset("fall_risk").where("age >= 80").count();
      const first = await count();
      const older = readRows(files).filter((r) => num(r.age) >= 80).length;
      expect(first.total).toBe(older);
      await fed.dataset("fall_risk").glm("fell_12m ~ age + sex", { family: "binomial" });
      await fed.dataset("fall_risk").mean("num_medications", { by: ["sex"] });

      // Jobs read; they never write: every data file is byte for byte as it was, mtime included.
      files.forEach((f, i) => {
        expect(digest(f)).toBe(before[i].digest);
        expect(statSync(f).mtimeMs).toBe(before[i].mtime);
      });
      // Nor does a station keep a data file open after loading it.
      for (const s of local.federation.stations) {
        const pid = local.process(s.name)!.pid!;
        const open = readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
          try {
            return [readlinkSync(`/proc/${pid}/fd/${fd}`)];
          } catch {
            return [];
          }
        });
        expect(open.filter((p) => p.endsWith(".csv"))).toEqual([]);
      }

      // Change a file while its station runs: 50 more rows, all aged 90.
      const header = readFileSync(files[1], "utf8").split("\n")[0].split(",");
      const row = header.map((h) => (h === "age" ? "90" : h === "sex" ? "F" : h === "district" || h === "neighbourhood" ? "" : "NA")).join(",");
      appendFileSync(files[1], Array.from({ length: 50 }, () => row).join("\n") + "\n");
      const second = await count();
      expect(second.total).toBe(first.total);

      // A restart loads the new snapshot.
      await local.restart(basename(files[1], ".csv"));
      const third = await count();
      expect(third.total).toBe(first.total! + 50);
    } finally {
      fed.close();
    }
  });
});
