/**
 * Per-row GLM arithmetic for the station's kernels: the inverse link, its derivative, the variance
 * function, deviance residuals, log-likelihood terms and R's starting means. The formulas and
 * the clamping at the boundaries are R's (`binomial()`, `poisson()`, `gaussian()` and
 * `make.link()`), so that a federated fit takes the same path as `glm()` on pooled rows.
 */
import { BadInput } from "../../common/errors.js";
import type { FamilyName, LinkName } from "../../common/job.js";
import { logGamma } from "../../common/log-gamma.js";

const EPSILON = 2.220446049250313e-16;
/** R's C_logit_linkinv clamps |eta| at -log(DBL_EPSILON) so that mu stays strictly inside (0, 1). */
const LOGIT_THRESHOLD = 30;
const LOGIT_MAX = -Math.log(EPSILON);

export interface RowLink {
  linkinv(eta: number): number;
  linkfun(mu: number): number;
  /** dmu/deta at eta. */
  muEta(eta: number): number;
}

export interface RowFamily {
  variance(mu: number): number;
  /** The unit deviance times the prior weight (R's dev.resids). */
  devianceResidual(y: number, mu: number, weight: number): number;
  /** The row's log-likelihood term (see `glmContribution` for what each family leaves out). */
  loglik(y: number, mu: number, weight: number): number;
  /** The saturated part of the deviance at a constant mean: see GLM_LAYOUT.saturated. */
  saturated(y: number, weight: number): number;
  /** R's `mustart` from `family$initialize`. */
  startMu(y: number, weight: number): number;
  /** R's boundary check: fitted values that are numerically 0 (or 1). */
  atBoundary(mu: number): boolean;
  /**
   * Throws BadInput unless y is a valid response of the family. The message names the response
   * and the rule, never the value, and is the same for one bad row as for many.
   */
  checkResponse(y: number, label: string): void;
}

function xlogy(x: number, y: number): number {
  return x === 0 ? 0 : x * Math.log(y);
}

export const LINKS: Record<LinkName, RowLink> = {
  logit: {
    linkinv(eta) {
      const e = eta < -LOGIT_MAX ? EPSILON : eta > LOGIT_MAX ? 1 / EPSILON : Math.exp(eta);
      return e / (1 + e);
    },
    linkfun(mu) {
      return Math.log(mu / (1 - mu));
    },
    muEta(eta) {
      if (eta > LOGIT_THRESHOLD || eta < -LOGIT_THRESHOLD) return EPSILON;
      const e = Math.exp(eta);
      return e / ((1 + e) * (1 + e));
    },
  },
  log: {
    linkinv(eta) {
      return Math.max(Math.exp(eta), EPSILON);
    },
    linkfun(mu) {
      return Math.log(mu);
    },
    muEta(eta) {
      return Math.max(Math.exp(eta), EPSILON);
    },
  },
  identity: {
    linkinv(eta) {
      return eta;
    },
    linkfun(mu) {
      return mu;
    },
    muEta() {
      return 1;
    },
  },
};

export const FAMILIES: Record<FamilyName, RowFamily> = {
  binomial: {
    variance: (mu) => mu * (1 - mu),
    devianceResidual: (y, mu, w) => 2 * w * (xlogy(y, y / mu) + xlogy(1 - y, (1 - y) / (1 - mu))),
    loglik: (y, mu, w) => w * (xlogy(y, mu) + xlogy(1 - y, 1 - mu)),
    saturated: (y, w) => w * (xlogy(y, y) + xlogy(1 - y, 1 - y)),
    startMu: (y, w) => (w * y + 0.5) / (w + 1),
    atBoundary: (mu) => mu > 1 - 10 * EPSILON || mu < 10 * EPSILON,
    checkResponse(y, label) {
      // R's binomial() takes proportions too, with the trials as weights (or from cbind)
      if (!(y >= 0 && y <= 1)) {
        throw new BadInput(`a binomial response must be 0/1, a boolean, or a proportion in [0, 1] (with the trials as weights); the response ${label} has a value outside that at this station`);
      }
    },
  },
  poisson: {
    variance: (mu) => mu,
    devianceResidual: (y, mu, w) => {
      const r = mu * w;
      return y > 0 ? 2 * (w * y * Math.log(y / mu) - (w * y - r)) : 2 * r;
    },
    loglik: (y, mu, w) => w * (xlogy(y, mu) - mu - logGamma(y + 1)),
    saturated: (y, w) => w * (xlogy(y, y) - y),
    startMu: (y) => y + 0.1,
    atBoundary: (mu) => mu < 10 * EPSILON,
    checkResponse(y, label) {
      if (y < 0) throw new BadInput(`a poisson response cannot be negative; the response ${label} has a negative value at this station`);
    },
  },
  gaussian: {
    variance: () => 1,
    devianceResidual: (y, mu, w) => w * (y - mu) * (y - mu),
    // The gaussian log-likelihood needs the dispersion, known only after summing the deviance;
    // rows contribute log(w) and the SDK finishes it (R's gaussian()$aic).
    loglik: (_y, _mu, w) => (w > 0 ? Math.log(w) : 0),
    saturated: (y, w) => (w * y * y) / 2,
    startMu: (y) => y,
    atBoundary: () => false,
    checkResponse() {},
  },
};

/** R's round(): halves to even, as binomial()$aic rounds the counts. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The part of R's binomial log-likelihood the per-row `loglik` leaves out: (w/m)·log C(m, k)
 * with m the trials and k = m·y the successes, both rounded as binomial()$aic does. Zero for
 * 0/1 responses; it matters for proportions with weights and for `cbind` responses.
 */
export function binomialCoefficientTerm(y: number, weight: number, trials: number): number {
  if (!(trials > 0)) return 0;
  const m = roundHalfEven(trials);
  const k = roundHalfEven(trials * y);
  if (k <= 0 || k >= m) return 0;
  return (weight / trials) * (logGamma(m + 1) - logGamma(k + 1) - logGamma(m - k + 1));
}

export function rowFamily(family: FamilyName): RowFamily {
  const f = FAMILIES[family];
  if (!f) throw new BadInput(`unknown GLM family "${family}" (binomial, poisson, gaussian)`);
  return f;
}

export function rowLink(link: LinkName): RowLink {
  const l = LINKS[link];
  if (!l) throw new BadInput(`unknown GLM link "${link}" (logit, log, identity)`);
  return l;
}

