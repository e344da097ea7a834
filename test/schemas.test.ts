import { describe, expect, it } from "vitest";
import type { StationInfo } from "../common/schema.js";
import { levelsOf, mergeSchemas } from "../sdk/schemas.js";

function station(name: string, columns: StationInfo["datasets"][number]["columns"]): StationInfo {
  return { name, protocolVersion: "werkplaats.v1", softwareVersion: "0", identityKey: "00", datasets: [{ name: "clients", columns }] };
}

describe("merging the stations' schemas", () => {
  const merged = mergeSchemas([
    station("gp", [
      { name: "visits", type: "numeric", levels: ["2", "10", "1"] },
      { name: "region", type: "categorical", levels: ["Zuid", "Noord"] },
      { name: "code", type: "numeric" },
    ]),
    station("homecare", [
      { name: "visits", type: "numeric", levels: ["3", "12"] },
      { name: "region", type: "categorical", levels: ["Oost", "Noord"] },
      { name: "code", type: "categorical", levels: ["B", "A"] },
    ]),
  ])[0];
  const column = (name: string) => merged.columns.find((c) => c.name === name)!;

  it("orders a numeric column's released values as numbers, as R orders factor(x)", () => {
    expect(column("visits").levels).toEqual(["1", "2", "3", "10", "12"]);
    expect(levelsOf(merged, "visits")).toEqual(["1", "2", "3", "10", "12"]);
  });

  it("orders categories by code point, the union over all stations", () => {
    expect(column("region").levels).toEqual(["Noord", "Oost", "Zuid"]);
  });

  it("keeps the levels of a column one station types as numeric and another as categorical", () => {
    expect(column("code").type).toBe("categorical");
    expect(column("code").levels).toEqual(["A", "B"]);
  });
});
