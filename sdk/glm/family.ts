/**
 * GLM families and links as small objects, statsmodels style: the Fisher-scoring loop takes
 * them as parameters and never switches on a family's name. Formulas and boundary clamping are
 * R's (`binomial()`, `poisson()`, `gaussian()`, `make.link()`), the same as the station's.
 */
import { BadInput } from "../../common/errors.js";
import type { FamilyName, LinkName } from "../../common/job.js";

const EPSILON = 2.220446049250313e-16;
const LOGIT_MAX = -Math.log(EPSILON);

export interface Link {
  readonly name: LinkName;
  /** η = g(μ). */
  link(mu: number): number;
  /** μ = g⁻¹(η). */
  inverse(eta: number): number;
  /** Name of exp(β) when it means something: "odds ratio" for logit, "rate ratio" for log. */
  readonly ratioName?: string;
}

export interface Family {
  readonly name: FamilyName;
  readonly canonicalLink: LinkName;
  readonly links: readonly LinkName[];
  /** Whether the dispersion is estimated (gaussian) or fixed at 1. */
  readonly estimatedDispersion: boolean;
  /** Canonical parameter θ(μ) and cumulant b(θ(μ)), for the deviance at a constant mean. */
  theta(mu: number): number;
  cumulant(mu: number): number;
  /** R's family$aic(...) + 2·rank → full AIC, given the summed log-likelihood part. */
  logLikelihood(options: { loglikSum: number; deviance: number; n: number }): number;
  /** Extra parameters counted in AIC/BIC's df beyond the coefficients (1 for the gaussian σ²). */
  readonly extraParameters: number;
  /** The text of R's boundary warning. */
  readonly boundaryWarning?: string;
}

const xlogy = (x: number, y: number): number => (x === 0 ? 0 : x * Math.log(y));

export const links: Record<LinkName, Link> = {
  logit: {
    name: "logit",
    link: (mu) => Math.log(mu / (1 - mu)),
    inverse: (eta) => {
      const e = eta < -LOGIT_MAX ? EPSILON : eta > LOGIT_MAX ? 1 / EPSILON : Math.exp(eta);
      return e / (1 + e);
    },
    ratioName: "odds ratio",
  },
  log: {
    name: "log",
    link: (mu) => Math.log(mu),
    inverse: (eta) => Math.max(Math.exp(eta), EPSILON),
    ratioName: "rate ratio",
  },
  identity: {
    name: "identity",
    link: (mu) => mu,
    inverse: (eta) => eta,
  },
};

export const families: Record<FamilyName, Family> = {
  binomial: {
    name: "binomial",
    canonicalLink: "logit",
    links: ["logit", "log", "identity"],
    estimatedDispersion: false,
    theta: (mu) => Math.log(mu / (1 - mu)),
    cumulant: (mu) => -Math.log1p(-mu),
    logLikelihood: ({ loglikSum }) => loglikSum,
    extraParameters: 0,
    boundaryWarning: "fitted probabilities numerically 0 or 1 occurred (possible complete or quasi-complete separation)",
  },
  poisson: {
    name: "poisson",
    canonicalLink: "log",
    links: ["log", "identity"],
    estimatedDispersion: false,
    theta: (mu) => Math.log(mu),
    cumulant: (mu) => mu,
    logLikelihood: ({ loglikSum }) => loglikSum,
    extraParameters: 0,
    boundaryWarning: "fitted rates numerically 0 occurred",
  },
  gaussian: {
    name: "gaussian",
    canonicalLink: "identity",
    links: ["identity", "log"],
    estimatedDispersion: true,
    theta: (mu) => mu,
    cumulant: (mu) => (mu * mu) / 2,
    // R: gaussian()$aic = n(log(2π·dev/n) + 1) + 2 − Σ log w; logLik = p + 1 − aic/2 … without the p
    logLikelihood: ({ loglikSum, deviance, n }) => -0.5 * n * (Math.log((2 * Math.PI * deviance) / n) + 1) + 0.5 * loglikSum,
    extraParameters: 1,
  },
};

export function resolveFamily(name: FamilyName, link?: LinkName): { family: Family; link: Link } {
  const family = families[name];
  if (!family) throw new BadInput(`unknown family "${name}" (binomial, poisson, gaussian)`);
  const linkName = link ?? family.canonicalLink;
  if (!links[linkName]) throw new BadInput(`unknown link "${linkName}" (logit, log, identity)`);
  if (!family.links.includes(linkName)) throw new BadInput(`the ${name} family does not take the ${linkName} link`);
  return { family, link: links[linkName] };
}

/**
 * The deviance at one constant mean m for all rows, from the sums every round carries
 * (see GLM_LAYOUT.saturated in the station's glm kernel): 2·(S − Σwy·θ(m) + Σw·b(θ(m))).
 */
export function constantMeanDeviance(
  family: Family,
  sums: { weightSum: number; responseSum: number; saturated: number },
  mean: number,
): number {
  // written with xlogy-like care so that an all-0 or all-1 binomial response gives 0, not NaN
  if (family.name === "binomial") {
    const { weightSum, responseSum, saturated } = sums;
    return 2 * (saturated - xlogy(responseSum, mean) - xlogy(weightSum - responseSum, 1 - mean));
  }
  if (family.name === "poisson") {
    const { weightSum, responseSum, saturated } = sums;
    return 2 * (saturated - xlogy(responseSum, mean) + weightSum * mean);
  }
  return 2 * (sums.saturated - sums.responseSum * family.theta(mean) + sums.weightSum * family.cumulant(mean));
}
