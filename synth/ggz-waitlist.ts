/**
 * Scenario `ggz-waitlist`: referrals to three mental-health (GGZ) providers, `ggz-noord`,
 * `ggz-zuid` and `ggz-oost`, and how long each client waited for treatment.
 *
 * Why the case mix differs. Each provider serves mainly its own region (65% of referrals),
 * with the rest from the city centre and the other regions. ggz-noord runs the region's
 * psychosis and personality-disorder programmes; ggz-zuid has the youth department (ADHD,
 * autism, clients from 12 years, referred by youth care); ggz-oost is a general provider
 * (mostly anxiety and depression). Diagnoses depend on age and sex as usual (eating
 * disorders in young women, ADHD and autism more often in boys, psychosis in young men).
 *
 * What is shared. Waiting time in whole weeks is drawn from ONE Poisson log-linear model for
 * all providers:
 *   wait_weeks ~ age + diagnosis_group + referral_source + urgency + region
 * The region term is the capacity effect: noord and zuid are short of clinicians (longer
 * waits), oost has spare capacity; the provider itself has no effect beyond the region.
 * Sex has no effect.
 *
 * The two legs of the national norm. The wait is split into registration → intake
 * (`wait_intake_weeks`) and intake → treatment (`wait_treatment_weeks`), drawn as independent
 * Poisson counts with means 0.3·μ and 0.7·μ, so that their sum `wait_weeks` is exactly
 * Poisson(μ) and each leg is itself Poisson log-linear with the same coefficients and the
 * intercept shifted by log(0.3) or log(0.7).
 *
 * `long_wait` is derived, not drawn: the national norms allow at most 4 weeks from
 * registration to intake plus at most 10 weeks from intake to treatment, 14 weeks in total,
 * so `long_wait = wait_weeks > 14` (strictly more than 14 whole weeks). Its true probability
 * for a client is P(Poisson(μ) > 14).
 *
 * No values are missing in this scenario.
 */
import { CHUNK_ROWS, csvBool, csvInt } from "./csv.js";
import { coefficient, levelEffects, outcomeModel } from "./model.js";
import { CategoricalTable, logistic, type Rng } from "./random.js";
import type { ScenarioDefinition, SynthColumn } from "./types.js";

const DIAGNOSES = ["adhd", "anxiety", "autism", "depression", "eating", "personality", "psychosis", "trauma"] as const;
const REFERRAL_SOURCES = ["gp", "hospital", "self", "youth_care"] as const;
const URGENCIES = ["regular", "urgent"] as const;
const REGIONS = ["centrum", "noord", "oost", "west", "zuid"] as const;

/** Registration-to-intake share of the expected wait; the rest is intake-to-treatment. */
const INTAKE_SHARE = 0.3;
/** National norms (Treeknormen) in weeks. */
const NORM_INTAKE_WEEKS = 4;
const NORM_TREATMENT_WEEKS = 10;
const NORM_TOTAL_WEEKS = NORM_INTAKE_WEEKS + NORM_TREATMENT_WEEKS;

const WAIT_COEFFICIENTS = {
  "(Intercept)": 2.7,
  age: -0.004,
  diagnosis_groupanxiety: -0.25,
  diagnosis_groupautism: 0.35,
  diagnosis_groupdepression: -0.2,
  diagnosis_groupeating: 0.25,
  diagnosis_grouppersonality: 0.4,
  diagnosis_grouppsychosis: -0.45,
  diagnosis_grouptrauma: 0.1,
  referral_sourcehospital: -0.15,
  referral_sourceself: 0.1,
  referral_sourceyouth_care: 0.2,
  urgencyurgent: -1.2,
  regionnoord: 0.3,
  regionoost: -0.1,
  regionwest: 0.05,
  regionzuid: 0.15,
};

const RHS = "age + diagnosis_group + referral_source + urgency + region";

function shiftedIntercept(share: number): Record<string, number> {
  return { ...WAIT_COEFFICIENTS, "(Intercept)": WAIT_COEFFICIENTS["(Intercept)"] + Math.log(share) };
}

const MODELS = [
  outcomeModel({
    outcome: "wait_weeks",
    family: "poisson",
    formula: `wait_weeks ~ ${RHS}`,
    coefficients: WAIT_COEFFICIENTS,
    note: "Total weeks from registration to start of treatment; shared by all providers. Provider and sex have no effect given the formula's terms.",
  }),
  outcomeModel({
    outcome: "wait_intake_weeks",
    family: "poisson",
    formula: `wait_intake_weeks ~ ${RHS}`,
    coefficients: shiftedIntercept(INTAKE_SHARE),
    note: `Registration to intake: Poisson with mean ${INTAKE_SHARE}·μ, independent of the other leg; intercept = wait_weeks intercept + log(${INTAKE_SHARE}).`,
  }),
  outcomeModel({
    outcome: "wait_treatment_weeks",
    family: "poisson",
    formula: `wait_treatment_weeks ~ ${RHS}`,
    coefficients: shiftedIntercept(1 - INTAKE_SHARE),
    note: `Intake to treatment: Poisson with mean ${1 - INTAKE_SHARE}·μ; intercept = wait_weeks intercept + log(${1 - INTAKE_SHARE}).`,
  }),
];

interface GgzCaseMix {
  homeRegion: (typeof REGIONS)[number];
  /** Share of clients aged 12–17. */
  youthShare: number;
  /** Multiplies the age/sex-specific diagnosis weights (order of DIAGNOSES). */
  diagnosisFactor: number[];
}

const CASE_MIX: Record<string, GgzCaseMix> = {
  "ggz-noord": { homeRegion: "noord", youthShare: 0.1, diagnosisFactor: [0.8, 0.9, 0.8, 0.9, 1, 2.0, 2.5, 1.2] },
  "ggz-zuid": { homeRegion: "zuid", youthShare: 0.35, diagnosisFactor: [1.8, 0.9, 1.8, 0.8, 1.2, 0.6, 0.7, 1] },
  "ggz-oost": { homeRegion: "oost", youthShare: 0.12, diagnosisFactor: [0.9, 1.4, 0.8, 1.4, 0.8, 0.8, 0.6, 1] },
};

/** Shares of a provider's referrals by the client's region. */
const REGION_SHARES = { home: 0.65, centrum: 0.14, eachOther: 0.07 };

const COVARIATES = {
  age: "youth: uniform 12–17; adults: 18 + exp(normal(log 17, 0.6)) rounded, redrawn above 85 (median about 35)",
  pMale: { youth: 0.55, adult: 0.42 },
  /** Diagnosis weights before the sex and provider factors (order of DIAGNOSES). */
  diagnosisWeights: {
    youth: [0.28, 0.16, 0.22, 0.14, 0.08, 0.02, 0.02, 0.08],
    adult: [0.08, 0.24, 0.07, 0.28, 0.04, 0.13, 0.07, 0.09],
  },
  /** Diagnosis weight factors for men and women (order of DIAGNOSES). */
  sexFactor: {
    M: [1.4, 1, 1.4, 1, 0.3, 0.7, 1.4, 0.9],
    F: [0.8, 1, 0.7, 1, 2.5, 1.4, 0.7, 1.1],
  },
  /** Referral-source weights (order gp, hospital, self, youth_care). */
  referralWeights: {
    youth: [0.3, 0.15, 0.05, 0.5],
    adult18to22: [0.62, 0.1, 0.18, 0.1],
    adult: [0.72, 0.12, 0.16, 0],
  },
  urgency: { intercept: -2.5, psychosis: 1.5, eating: 0.5, hospitalReferral: 1.0 },
};

const COLUMNS: SynthColumn[] = [
  { name: "age", type: "numeric", min: 12, max: 85, missing: false, description: "age in whole years at referral" },
  { name: "sex", type: "categorical", levels: ["F", "M"], missing: false, description: "sex as registered" },
  { name: "region", type: "categorical", levels: [...REGIONS], missing: false, description: "care region of the client's home address" },
  { name: "diagnosis_group", type: "categorical", levels: [...DIAGNOSES], missing: false, description: "main diagnosis group at referral" },
  { name: "referral_source", type: "categorical", levels: [...REFERRAL_SOURCES], missing: false, description: "who referred the client" },
  { name: "urgency", type: "categorical", levels: [...URGENCIES], missing: false, description: "triage urgency" },
  { name: "wait_intake_weeks", type: "numeric", min: 0, missing: false, description: "OUTCOME: whole weeks from registration to intake" },
  { name: "wait_treatment_weeks", type: "numeric", min: 0, missing: false, description: "OUTCOME: whole weeks from intake to start of treatment" },
  { name: "wait_weeks", type: "numeric", min: 0, missing: false, description: "OUTCOME: wait_intake_weeks + wait_treatment_weeks" },
  { name: "long_wait", type: "boolean", missing: false, description: `OUTCOME (derived): wait_weeks > ${NORM_TOTAL_WEEKS}` },
];

function* rows(options: { rng: Rng; kind: string; rows: number }): Iterable<string> {
  const { rng, rows: n } = options;
  const mix = CASE_MIX[options.kind];
  const c = COVARIATES;
  const regionTable = new CategoricalTable(REGIONS.map((r) =>
    r === mix.homeRegion ? REGION_SHARES.home : r === "centrum" ? REGION_SHARES.centrum : REGION_SHARES.eachOther));
  const diagnosisTables = {
    youthM: diagnosisTable(c.diagnosisWeights.youth, c.sexFactor.M, mix.diagnosisFactor),
    youthF: diagnosisTable(c.diagnosisWeights.youth, c.sexFactor.F, mix.diagnosisFactor),
    adultM: diagnosisTable(c.diagnosisWeights.adult, c.sexFactor.M, mix.diagnosisFactor),
    adultF: diagnosisTable(c.diagnosisWeights.adult, c.sexFactor.F, mix.diagnosisFactor),
  };
  const referralTables = {
    youth: new CategoricalTable(c.referralWeights.youth),
    adult18to22: new CategoricalTable(c.referralWeights.adult18to22),
    adult: new CategoricalTable(c.referralWeights.adult),
  };
  const psychosis = DIAGNOSES.indexOf("psychosis");
  const eating = DIAGNOSES.indexOf("eating");
  const hospital = REFERRAL_SOURCES.indexOf("hospital");

  const b0 = coefficient(WAIT_COEFFICIENTS, "(Intercept)");
  const bAge = coefficient(WAIT_COEFFICIENTS, "age");
  const bDiagnosis = levelEffects(WAIT_COEFFICIENTS, "diagnosis_group", DIAGNOSES);
  const bReferral = levelEffects(WAIT_COEFFICIENTS, "referral_source", REFERRAL_SOURCES);
  const bUrgency = levelEffects(WAIT_COEFFICIENTS, "urgency", URGENCIES);
  const bRegion = levelEffects(WAIT_COEFFICIENTS, "region", REGIONS);

  let chunk = "";
  let inChunk = 0;
  for (let i = 0; i < n; i++) {
    const youth = rng.bernoulli(mix.youthShare);
    let age: number;
    if (youth) {
      age = rng.int(12, 17);
    } else {
      do age = 18 + Math.round(Math.exp(rng.normal(Math.log(17), 0.6)));
      while (age > 85);
    }
    const male = rng.bernoulli(youth ? c.pMale.youth : c.pMale.adult);
    const region = regionTable.draw(rng);
    const diagnosis = (youth ? (male ? diagnosisTables.youthM : diagnosisTables.youthF)
      : (male ? diagnosisTables.adultM : diagnosisTables.adultF)).draw(rng);
    const referral = (youth ? referralTables.youth : age <= 22 ? referralTables.adult18to22 : referralTables.adult).draw(rng);
    const urgent = rng.bernoulli(logistic(c.urgency.intercept + (diagnosis === psychosis ? c.urgency.psychosis : 0)
      + (diagnosis === eating ? c.urgency.eating : 0) + (referral === hospital ? c.urgency.hospitalReferral : 0)));

    const mu = Math.exp(b0 + bAge * age + bDiagnosis[diagnosis] + bReferral[referral] + bUrgency[urgent ? 1 : 0] + bRegion[region]);
    const intake = rng.poisson(INTAKE_SHARE * mu);
    const treatment = rng.poisson((1 - INTAKE_SHARE) * mu);
    const total = intake + treatment;

    chunk += `${csvInt(age)},${male ? "M" : "F"},${REGIONS[region]},${DIAGNOSES[diagnosis]},${REFERRAL_SOURCES[referral]},`
      + `${URGENCIES[urgent ? 1 : 0]},${csvInt(intake)},${csvInt(treatment)},${csvInt(total)},${csvBool(total > NORM_TOTAL_WEEKS)}\n`;
    if (++inChunk === CHUNK_ROWS) {
      yield chunk;
      chunk = "";
      inChunk = 0;
    }
  }
  if (chunk !== "") yield chunk;
}

function diagnosisTable(base: readonly number[], sexFactor: readonly number[], providerFactor: readonly number[]): CategoricalTable {
  return new CategoricalTable(base.map((w, i) => w * sexFactor[i] * providerFactor[i]));
}

export const GGZ_WAITLIST: ScenarioDefinition = {
  name: "ggz-waitlist",
  description: "referrals to three mental-health providers; Poisson waiting weeks with a regional capacity effect, long_wait = wait_weeks > 14",
  stationKinds: ["ggz-noord", "ggz-zuid", "ggz-oost"],
  columns: COLUMNS,
  rows,
  models: MODELS,
  derived: [
    {
      outcome: "long_wait",
      derived: true,
      definition: `wait_weeks > ${NORM_TOTAL_WEEKS}`,
      from: ["wait_weeks"],
      note: `National norms: at most ${NORM_INTAKE_WEEKS} weeks registration to intake plus ${NORM_TREATMENT_WEEKS} weeks intake to treatment; `
        + `long_wait is TRUE when the total wait exceeds ${NORM_TOTAL_WEEKS} whole weeks. True probability per client: P(Poisson(μ) > ${NORM_TOTAL_WEEKS}), μ from the wait_weeks model.`,
    },
  ],
  parameters: {
    intakeShare: INTAKE_SHARE,
    norms: { intakeWeeks: NORM_INTAKE_WEEKS, treatmentWeeks: NORM_TREATMENT_WEEKS, totalWeeks: NORM_TOTAL_WEEKS },
    caseMix: CASE_MIX,
    regionShares: REGION_SHARES,
    covariates: COVARIATES,
    levelOrder: { diagnosis_group: DIAGNOSES, referral_source: REFERRAL_SOURCES, region: REGIONS },
  },
};
