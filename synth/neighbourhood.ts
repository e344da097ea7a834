/**
 * Scenario `neighbourhood`: adult residents of the synthetic town (synth/geography.ts) as
 * three organisations see them — the public health service's health survey (`ggd`), the
 * municipality's register-based social data (`municipality`) and a GP practice (`gp`) — for
 * neighbourhood profiles: indicators per neighbourhood, age group and sex.
 *
 * Why the case mix differs. All three sample the same population, whose health and social
 * situation follow ONE set of models, but they sample it differently:
 * - the GGD survey over-represents older respondents (they answer more often) and has item
 *   non-response on the sensitive questions (loneliness, income);
 * - the municipality sees the whole adult population: mostly young and middle-aged;
 * - the GP practice sits in district WK036302 (the poorer district), so its patients come
 *   mostly from there, and it has many older patients.
 * So prevalences differ between stations although no station has an effect of its own.
 *
 * The population models (shared by every station; neighbourhood acts only through the share
 * of low-income households, `parameters.lowIncomeByNeighbourhood`):
 *   low_income      ~ Bernoulli(neighbourhood's low-income share)
 *   lives_alone     ~ age_group + sex                                 (logistic)
 *   diabetes        ~ age_group + sex + low_income                    (logistic)
 *   lonely          ~ age_group + sex + lives_alone + low_income      (logistic)
 *   num_medications ~ age_group + sex + diabetes + low_income         (Poisson, log link)
 *   polypharmacy    = num_medications >= 5                            (derived, exactly)
 * Loneliness is "moderately or severely lonely" on the De Jong Gierveld scale (about 45% of
 * adults in GGD surveys); polypharmacy is five or more different medicines in use.
 *
 * Missing by design, completely at random, at rates per station (`parameters.missing`):
 * `lonely` and `low_income`. Missing values are blanked after every outcome is drawn from the
 * true values, so complete-case fits still recover the coefficients.
 */
import { CHUNK_ROWS, csvBool, csvInt } from "./csv.js";
import { NEIGHBOURHOODS, NEIGHBOURHOOD_CODES, DISTRICT_CODES } from "./geography.js";
import { coefficient, levelEffects, outcomeModel } from "./model.js";
import { CategoricalTable, logistic, type Rng } from "./random.js";
import type { ScenarioDefinition, SynthColumn } from "./types.js";

const AGE_GROUPS = ["18-39", "40-64", "65-74", "75-84", "85+"] as const;
const POLYPHARMACY_THRESHOLD = 5;

const LIVES_ALONE = {
  "(Intercept)": -1.1,
  "age_group40-64": -0.25,
  "age_group65-74": 0.2,
  "age_group75-84": 0.65,
  "age_group85+": 1.4,
  sexM: 0.1,
};
const DIABETES = {
  "(Intercept)": -4.0,
  "age_group40-64": 1.4,
  "age_group65-74": 2.3,
  "age_group75-84": 2.6,
  "age_group85+": 2.6,
  sexM: 0.3,
  low_incomeTRUE: 0.5,
};
const LONELY = {
  "(Intercept)": -0.6,
  "age_group40-64": 0.1,
  "age_group65-74": 0.0,
  "age_group75-84": 0.3,
  "age_group85+": 0.7,
  sexM: 0.05,
  lives_aloneTRUE: 0.9,
  low_incomeTRUE: 0.6,
};
const MEDICATIONS = {
  "(Intercept)": -0.3,
  "age_group40-64": 0.6,
  "age_group65-74": 1.2,
  "age_group75-84": 1.5,
  "age_group85+": 1.7,
  sexM: -0.1,
  diabetesTRUE: 0.6,
  low_incomeTRUE: 0.15,
};

const SHARED = "Shared by all stations; station, neighbourhood and district have no effect given the formula's terms.";
const MODELS = [
  outcomeModel({ outcome: "lives_alone", family: "binomial", formula: "lives_alone ~ age_group + sex", coefficients: LIVES_ALONE, note: SHARED }),
  outcomeModel({ outcome: "diabetes", family: "binomial", formula: "diabetes ~ age_group + sex + low_income", coefficients: DIABETES, note: SHARED }),
  outcomeModel({ outcome: "lonely", family: "binomial", formula: "lonely ~ age_group + sex + lives_alone + low_income", coefficients: LONELY, note: SHARED }),
  outcomeModel({ outcome: "num_medications", family: "poisson", formula: "num_medications ~ age_group + sex + diabetes + low_income", coefficients: MEDICATIONS, note: SHARED }),
];

interface NeighbourhoodCaseMix {
  /** Age-group distribution of the station's rows (order of AGE_GROUPS). */
  ageGroups: number[];
  /** Multiplies each neighbourhood's population weight, by district. */
  districtFactor: Record<string, number>;
  /** Share of rows left empty, completely at random. */
  missing: { lonely: number; low_income: number };
  pMale: number;
}

const CASE_MIX: Record<string, NeighbourhoodCaseMix> = {
  ggd: {
    ageGroups: [0.25, 0.35, 0.18, 0.14, 0.08],
    districtFactor: { WK036301: 1, WK036302: 1, WK036303: 1 },
    missing: { lonely: 0.04, low_income: 0.06 },
    pMale: 0.46,
  },
  municipality: {
    ageGroups: [0.38, 0.37, 0.13, 0.08, 0.04],
    districtFactor: { WK036301: 1, WK036302: 1, WK036303: 1 },
    missing: { lonely: 0.08, low_income: 0.01 },
    pMale: 0.49,
  },
  gp: {
    ageGroups: [0.28, 0.36, 0.16, 0.13, 0.07],
    districtFactor: { WK036301: 0.5, WK036302: 3, WK036303: 0.5 },
    missing: { lonely: 0.1, low_income: 0.03 },
    pMale: 0.47,
  },
};

const COLUMNS: SynthColumn[] = [
  { name: "district", type: "categorical", levels: [...DISTRICT_CODES], missing: false, description: "CBS district code (wijk) of the home address" },
  { name: "neighbourhood", type: "categorical", levels: [...NEIGHBOURHOOD_CODES].sort(), missing: false, description: "CBS neighbourhood code (buurt) of the home address" },
  { name: "age_group", type: "categorical", levels: [...AGE_GROUPS], missing: false, description: "age group in years" },
  { name: "sex", type: "categorical", levels: ["F", "M"], missing: false, description: "sex as registered" },
  { name: "lives_alone", type: "boolean", missing: false, description: "single-person household" },
  { name: "low_income", type: "boolean", missing: true, description: "household income below the low-income threshold; empty when unknown" },
  { name: "lonely", type: "boolean", missing: true, description: "moderately or severely lonely; empty when not answered" },
  { name: "diabetes", type: "boolean", missing: false, description: "diabetes mellitus" },
  { name: "num_medications", type: "numeric", min: 0, missing: false, description: "number of different medicines in use" },
  { name: "polypharmacy", type: "boolean", missing: false, description: `num_medications >= ${POLYPHARMACY_THRESHOLD}` },
];

function* rows(options: { rng: Rng; kind: string; rows: number }): Iterable<string> {
  const { rng, rows: n } = options;
  const mix = CASE_MIX[options.kind];
  const places = new CategoricalTable(NEIGHBOURHOODS.map((nb) => nb.weight * (mix.districtFactor[nb.district] ?? 1)));
  const ageTable = new CategoricalTable(mix.ageGroups);

  const alone = { b0: coefficient(LIVES_ALONE, "(Intercept)"), age: levelEffects(LIVES_ALONE, "age_group", AGE_GROUPS), male: coefficient(LIVES_ALONE, "sexM") };
  const diab = {
    b0: coefficient(DIABETES, "(Intercept)"), age: levelEffects(DIABETES, "age_group", AGE_GROUPS),
    male: coefficient(DIABETES, "sexM"), low: coefficient(DIABETES, "low_incomeTRUE"),
  };
  const lone = {
    b0: coefficient(LONELY, "(Intercept)"), age: levelEffects(LONELY, "age_group", AGE_GROUPS), male: coefficient(LONELY, "sexM"),
    alone: coefficient(LONELY, "lives_aloneTRUE"), low: coefficient(LONELY, "low_incomeTRUE"),
  };
  const meds = {
    b0: coefficient(MEDICATIONS, "(Intercept)"), age: levelEffects(MEDICATIONS, "age_group", AGE_GROUPS), male: coefficient(MEDICATIONS, "sexM"),
    diabetes: coefficient(MEDICATIONS, "diabetesTRUE"), low: coefficient(MEDICATIONS, "low_incomeTRUE"),
  };

  let chunk = "";
  let inChunk = 0;
  for (let i = 0; i < n; i++) {
    const nb = NEIGHBOURHOODS[places.draw(rng)];
    const ag = ageTable.draw(rng);
    const male = rng.bernoulli(mix.pMale);
    const lowIncome = rng.bernoulli(nb.lowIncome);
    const livesAlone = rng.bernoulli(logistic(alone.b0 + alone.age[ag] + (male ? alone.male : 0)));
    const diabetes = rng.bernoulli(logistic(diab.b0 + diab.age[ag] + (male ? diab.male : 0) + (lowIncome ? diab.low : 0)));
    const lonely = rng.bernoulli(logistic(lone.b0 + lone.age[ag] + (male ? lone.male : 0)
      + (livesAlone ? lone.alone : 0) + (lowIncome ? lone.low : 0)));
    const numMeds = rng.poisson(Math.exp(meds.b0 + meds.age[ag] + (male ? meds.male : 0)
      + (diabetes ? meds.diabetes : 0) + (lowIncome ? meds.low : 0)));
    const lonelyMissing = rng.bernoulli(mix.missing.lonely);
    const incomeMissing = rng.bernoulli(mix.missing.low_income);

    chunk += `${nb.district},${nb.code},${AGE_GROUPS[ag]},${male ? "M" : "F"},${csvBool(livesAlone)},`
      + `${incomeMissing ? "" : csvBool(lowIncome)},${lonelyMissing ? "" : csvBool(lonely)},${csvBool(diabetes)},`
      + `${csvInt(numMeds)},${csvBool(numMeds >= POLYPHARMACY_THRESHOLD)}\n`;
    if (++inChunk === CHUNK_ROWS) {
      yield chunk;
      chunk = "";
      inChunk = 0;
    }
  }
  if (chunk !== "") yield chunk;
}

export const NEIGHBOURHOOD: ScenarioDefinition = {
  name: "neighbourhood",
  description: "adult residents per neighbourhood seen by the GGD survey, the municipality and a GP; loneliness, diabetes, medicines",
  stationKinds: ["ggd", "municipality", "gp"],
  columns: COLUMNS,
  rows,
  models: MODELS,
  derived: [
    {
      outcome: "polypharmacy",
      derived: true,
      definition: `num_medications >= ${POLYPHARMACY_THRESHOLD}`,
      from: ["num_medications"],
      note: "Polypharmacy: five or more different medicines in use. Exact on every row.",
    },
  ],
  parameters: {
    lowIncomeByNeighbourhood: Object.fromEntries(NEIGHBOURHOODS.map((nb) => [nb.code, nb.lowIncome])),
    neighbourhoods: NEIGHBOURHOODS,
    caseMix: CASE_MIX,
    missing: "lonely and low_income blanked completely at random after all outcomes are drawn; rates in caseMix[kind].missing",
  },
};
