/**
 * The synthetic town shared by the fall-risk and neighbourhood scenarios: eight
 * neighbourhoods in three districts of municipality 0363, coded the way the national
 * statistics office (CBS) codes them — `WK` + 4-digit municipality + 2-digit district, `BU` +
 * the district code + 2-digit neighbourhood. The codes are CBS-shaped but the areas, their
 * sizes and their incomes are invented; they do not describe real Amsterdam neighbourhoods.
 *
 * Neighbourhoods differ in size and in income. One, BU03630302 (a new-build area), is tiny on
 * purpose: subgroup counts there (say, single-living men over 65 with diabetes) stay below any
 * sensible minimum cell size, while in the other seven they exceed 10 at the default 3 × 2000
 * rows of the fall-risk scenario. Incomes differ: the share of low-income
 * households ranges from one in ten to two in five, which is what makes "every filter gives
 * another reality" visible in profiles.
 */

export interface Neighbourhood {
  code: string;
  district: string;
  /** Share of the town's (adult and older) population living here. */
  weight: number;
  /** Probability that a resident's household has a low income. */
  lowIncome: number;
}

export const NEIGHBOURHOODS: readonly Neighbourhood[] = [
  { code: "BU03630101", district: "WK036301", weight: 0.168, lowIncome: 0.12 },
  { code: "BU03630102", district: "WK036301", weight: 0.14, lowIncome: 0.18 },
  { code: "BU03630103", district: "WK036301", weight: 0.13, lowIncome: 0.10 },
  { code: "BU03630201", district: "WK036302", weight: 0.15, lowIncome: 0.35 },
  { code: "BU03630202", district: "WK036302", weight: 0.14, lowIncome: 0.30 },
  { code: "BU03630203", district: "WK036302", weight: 0.12, lowIncome: 0.22 },
  { code: "BU03630301", district: "WK036303", weight: 0.14, lowIncome: 0.40 },
  { code: "BU03630302", district: "WK036303", weight: 0.012, lowIncome: 0.15 },
];

export const NEIGHBOURHOOD_CODES: readonly string[] = NEIGHBOURHOODS.map((n) => n.code);
export const DISTRICT_CODES: readonly string[] = [...new Set(NEIGHBOURHOODS.map((n) => n.district))].sort();
