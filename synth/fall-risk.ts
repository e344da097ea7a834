/**
 * Scenario `fall-risk`: older clients of a GP practice (`gp`), a home-care organisation
 * (`homecare`) and a hospital (`hospital`), and whether they fell in the following 12 months.
 *
 * Why the case mix differs. Every station draws its clients from the same synthetic town
 * (synth/geography.ts), but each organisation sees a different slice of it, as in the
 * regional reports this product answers:
 * - the GP practice sees the broadest and youngest group (its list includes 60–64-year-olds
 *   invited for a fall-prevention check), fewest with dementia or a mobility aid; the practice
 *   sits in district WK036302, so its neighbourhoods are over-represented;
 * - home care sees the oldest clients, far more often living alone and with dementia, with
 *   more medicines and mobility aids (that is why they receive home care);
 * - the hospital (geriatrics and emergency department) sees older patients with many more
 *   prior falls and more medicines.
 *
 * What is shared. The outcome `fell_12m` is drawn from ONE logistic model for all stations,
 * in the raw columns (age in years, not centred), so that a pooled or federated `glm` of
 *   fell_12m ~ age + sex + num_medications + prior_fall + dementia + mobility_aid + lives_alone
 * recovers the coefficients in truth.json. Given those covariates, the station, the
 * neighbourhood, income and diabetes have no effect on falling (true zero effects an analyst
 * may test), although they are associated with falling through the covariates.
 *
 * Effect sizes follow the fall-risk literature for community-dwelling older people: odds
 * ratio ~1.04 per year of age, ~2.5 for a fall in the past year, ~1.8 for dementia, ~1.6 for
 * a walking aid, ~1.3 for living alone, ~1.08 per medicine in use, men slightly less often.
 *
 * Missing by design: `income_quintile` (not registered for 3–5% of clients, completely at
 * random, at a rate that differs by organisation). The outcome model does not use it.
 */
import { CHUNK_ROWS, csvBool, csvInt } from "./csv.js";
import { NEIGHBOURHOODS, NEIGHBOURHOOD_CODES, DISTRICT_CODES } from "./geography.js";
import { coefficient, outcomeModel } from "./model.js";
import { CategoricalTable, logistic, type Rng } from "./random.js";
import type { ScenarioDefinition, SynthColumn } from "./types.js";

const FELL_COEFFICIENTS = {
  "(Intercept)": -4.8,
  age: 0.04,
  sexM: -0.15,
  num_medications: 0.08,
  prior_fallTRUE: 0.9,
  dementiaTRUE: 0.6,
  mobility_aidTRUE: 0.45,
  lives_aloneTRUE: 0.25,
};

const FELL_MODEL = outcomeModel({
  outcome: "fell_12m",
  family: "binomial",
  formula: "fell_12m ~ age + sex + num_medications + prior_fall + dementia + mobility_aid + lives_alone",
  coefficients: FELL_COEFFICIENTS,
  note: "Shared by all stations. Station, neighbourhood, district, income_quintile and diabetes have no effect given the formula's terms.",
});

/**
 * How each organisation's clients are drawn. Logistic and log-linear pieces are on the
 * linear-predictor scale; `age - 75` is centred only inside these covariate models.
 */
interface FallRiskCaseMix {
  age: { mean: number; sd: number; min: number; max: number };
  /** Multiplies each neighbourhood's weight in the town (where the organisation works). */
  districtFactor: Record<string, number>;
  /** Logit offsets added to the covariate models below, per organisation. */
  livesAlone: number;
  dementia: number;
  priorFall: number;
  mobilityAid: number;
  diabetes: number;
  /** Log offset of the mean number of medicines. */
  medications: number;
  /** Share of clients whose income quintile is not registered. */
  incomeMissing: number;
}

const CASE_MIX: Record<string, FallRiskCaseMix> = {
  gp: {
    age: { mean: 73, sd: 7, min: 60, max: 100 },
    districtFactor: { WK036301: 0.8, WK036302: 1.6, WK036303: 0.8 },
    livesAlone: 0, dementia: 0, priorFall: 0, mobilityAid: 0, diabetes: 0, medications: 0,
    incomeMissing: 0.03,
  },
  homecare: {
    age: { mean: 82, sd: 7, min: 65, max: 102 },
    districtFactor: { WK036301: 1, WK036302: 1, WK036303: 1 },
    livesAlone: 0.8, dementia: 0.8, priorFall: 0.3, mobilityAid: 0.9, diabetes: 0.2, medications: 0.25,
    incomeMissing: 0.05,
  },
  hospital: {
    age: { mean: 79.5, sd: 7.5, min: 65, max: 102 },
    districtFactor: { WK036301: 1.2, WK036302: 0.9, WK036303: 0.9 },
    livesAlone: 0.1, dementia: 0.3, priorFall: 1.0, mobilityAid: 0.4, diabetes: 0.3, medications: 0.3,
    incomeMissing: 0.04,
  },
};

/** Covariate models shared by all organisations (plus the offsets above). */
const COVARIATES = {
  /** P(male) = clamp(0.48 - 0.008 (age - 65), 0.25, 0.5): women outlive men. */
  male: { base: 0.48, perYear: -0.008, min: 0.25, max: 0.5 },
  livesAlone: { intercept: -0.7, ageMinus75: 0.04, female: 0.5 },
  /** Quintile 1 with the neighbourhood's low-income probability; 2–5 tilted by it. */
  incomeQuintile: "P(1) = lowIncome; P(q | q > 1) proportional to [0.25 + t, 0.25, 0.25, 0.25 - t], t = (lowIncome - 0.2) / 2",
  diabetes: { intercept: -1.5, ageMinus75: 0.02, male: 0.35, perQuintileBelow3: 0.15 },
  dementia: { intercept: -2.6, ageMinus75: 0.11 },
  priorFall: { intercept: -1.4, ageMinus75: 0.04, dementia: 0.5 },
  mobilityAid: { intercept: -1.5, ageMinus75: 0.08, priorFall: 0.8, dementia: 0.6 },
  medicationsLogMean: { intercept: 1.2, ageMinus75: 0.02, diabetes: 0.45, dementia: 0.2 },
};

const COLUMNS: SynthColumn[] = [
  { name: "age", type: "numeric", min: 60, max: 102, missing: false, description: "age in whole years" },
  { name: "sex", type: "categorical", levels: ["F", "M"], missing: false, description: "sex as registered" },
  { name: "lives_alone", type: "boolean", missing: false, description: "single-person household" },
  { name: "district", type: "categorical", levels: [...DISTRICT_CODES], missing: false, description: "CBS district code (wijk) of the home address" },
  { name: "neighbourhood", type: "categorical", levels: [...NEIGHBOURHOOD_CODES].sort(), missing: false, description: "CBS neighbourhood code (buurt) of the home address" },
  { name: "income_quintile", type: "numeric", min: 1, max: 5, missing: true, description: "national household-income quintile, 1 = lowest; empty when not registered" },
  { name: "num_medications", type: "numeric", min: 0, missing: false, description: "number of different medicines in use" },
  { name: "diabetes", type: "boolean", missing: false, description: "diabetes mellitus diagnosed" },
  { name: "dementia", type: "boolean", missing: false, description: "dementia diagnosed" },
  { name: "prior_fall", type: "boolean", missing: false, description: "fell at least once in the 12 months before baseline" },
  { name: "mobility_aid", type: "boolean", missing: false, description: "uses a walking aid (stick, rollator, wheelchair)" },
  { name: "fell_12m", type: "boolean", missing: false, description: "OUTCOME: fell at least once in the 12 months after baseline" },
];

function* rows(options: { rng: Rng; kind: string; rows: number }): Iterable<string> {
  const { rng, rows: n } = options;
  const mix = CASE_MIX[options.kind];
  const places = new CategoricalTable(NEIGHBOURHOODS.map((nb) => nb.weight * (mix.districtFactor[nb.district] ?? 1)));
  const quintileTables = NEIGHBOURHOODS.map((nb) => {
    const t = (nb.lowIncome - 0.2) / 2;
    const rest = 1 - nb.lowIncome;
    return new CategoricalTable([nb.lowIncome, rest * (0.25 + t), rest * 0.25, rest * 0.25, rest * (0.25 - t)]);
  });
  const c = COVARIATES;
  const b0 = coefficient(FELL_COEFFICIENTS, "(Intercept)");
  const bAge = coefficient(FELL_COEFFICIENTS, "age");
  const bMale = coefficient(FELL_COEFFICIENTS, "sexM");
  const bMeds = coefficient(FELL_COEFFICIENTS, "num_medications");
  const bPrior = coefficient(FELL_COEFFICIENTS, "prior_fallTRUE");
  const bDementia = coefficient(FELL_COEFFICIENTS, "dementiaTRUE");
  const bAid = coefficient(FELL_COEFFICIENTS, "mobility_aidTRUE");
  const bAlone = coefficient(FELL_COEFFICIENTS, "lives_aloneTRUE");

  let chunk = "";
  let inChunk = 0;
  for (let i = 0; i < n; i++) {
    let ageReal: number;
    do ageReal = rng.normal(mix.age.mean, mix.age.sd);
    while (ageReal < mix.age.min - 0.5 || ageReal >= mix.age.max + 0.5);
    const age = Math.round(ageReal);
    const a75 = age - 75;

    const pMale = Math.min(c.male.max, Math.max(c.male.min, c.male.base + c.male.perYear * (age - 65)));
    const male = rng.bernoulli(pMale);
    const livesAlone = rng.bernoulli(logistic(c.livesAlone.intercept + c.livesAlone.ageMinus75 * a75
      + (male ? 0 : c.livesAlone.female) + mix.livesAlone));
    const place = places.draw(rng);
    const nb = NEIGHBOURHOODS[place];
    const quintile = quintileTables[place].draw(rng) + 1;
    const diabetes = rng.bernoulli(logistic(c.diabetes.intercept + c.diabetes.ageMinus75 * a75
      + (male ? c.diabetes.male : 0) + c.diabetes.perQuintileBelow3 * (3 - quintile) + mix.diabetes));
    const dementia = rng.bernoulli(logistic(c.dementia.intercept + c.dementia.ageMinus75 * a75 + mix.dementia));
    const priorFall = rng.bernoulli(logistic(c.priorFall.intercept + c.priorFall.ageMinus75 * a75
      + (dementia ? c.priorFall.dementia : 0) + mix.priorFall));
    const mobilityAid = rng.bernoulli(logistic(c.mobilityAid.intercept + c.mobilityAid.ageMinus75 * a75
      + (priorFall ? c.mobilityAid.priorFall : 0) + (dementia ? c.mobilityAid.dementia : 0) + mix.mobilityAid));
    const meds = rng.poisson(Math.exp(c.medicationsLogMean.intercept + c.medicationsLogMean.ageMinus75 * a75
      + (diabetes ? c.medicationsLogMean.diabetes : 0) + (dementia ? c.medicationsLogMean.dementia : 0) + mix.medications));
    const incomeMissing = rng.bernoulli(mix.incomeMissing);

    const eta = b0 + bAge * age + (male ? bMale : 0) + bMeds * meds + (priorFall ? bPrior : 0)
      + (dementia ? bDementia : 0) + (mobilityAid ? bAid : 0) + (livesAlone ? bAlone : 0);
    const fell = rng.bernoulli(logistic(eta));

    chunk += `${csvInt(age)},${male ? "M" : "F"},${csvBool(livesAlone)},${nb.district},${nb.code},`
      + `${incomeMissing ? "" : csvInt(quintile)},${csvInt(meds)},${csvBool(diabetes)},${csvBool(dementia)},`
      + `${csvBool(priorFall)},${csvBool(mobilityAid)},${csvBool(fell)}\n`;
    if (++inChunk === CHUNK_ROWS) {
      yield chunk;
      chunk = "";
      inChunk = 0;
    }
  }
  if (chunk !== "") yield chunk;
}

export const FALL_RISK: ScenarioDefinition = {
  name: "fall-risk",
  description: "older clients of a GP practice, home care and a hospital; outcome fell_12m from one shared logistic model",
  stationKinds: ["gp", "homecare", "hospital"],
  columns: COLUMNS,
  rows,
  models: [FELL_MODEL],
  derived: [],
  parameters: {
    caseMix: CASE_MIX,
    covariates: COVARIATES,
    neighbourhoods: NEIGHBOURHOODS,
    ageDraw: "normal(mean, sd) rounded to whole years, redrawn outside [min, max]",
  },
};
