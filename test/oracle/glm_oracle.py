#!/usr/bin/python3
"""Pooled-data oracle for the federated GLM tests: statsmodels fits the pooled rows.

Reads one JSON request on stdin, prints one JSON answer on stdout.

  {"export": "spector", "out": "/tmp/spector.csv"}
      writes a dataset statsmodels ships (sm.datasets.<name>) to CSV; answers {"rows", "columns"}.
  {"csv": path, "formula": patsy formula, "family": "binomial"|"poisson"|"gaussian",
   "link"?: "logit"|"log"|"identity", "offset"?: {"column": name, "log": bool},
   "weights"?: column (R's prior weights = statsmodels var_weights)}
      fits statsmodels.formula.api.glm by IRLS and answers params, bse, pvalues, conf_int,
      deviance, null_deviance, llf, aic, bic_llf, pearson_chi2, scale, df_resid, nobs (from a fit
      run to full convergence, tol=1e-13), and iterations (fit_history['iteration']),
      default_params and default_bse from the default fit (tol=1e-8). Names are patsy's, with
      "Intercept" -> "(Intercept)".
"""
import json
import sys
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf

warnings.simplefilter("ignore")


def export(request):
    data = getattr(sm.datasets, request["export"]).load_pandas().data
    data.to_csv(request["out"], index=False)
    return {"rows": int(data.shape[0]), "columns": list(data.columns)}


def fit(request):
    data = pd.read_csv(request["csv"])
    families = {"binomial": sm.families.Binomial, "poisson": sm.families.Poisson, "gaussian": sm.families.Gaussian}
    links = {"logit": sm.families.links.logit, "log": sm.families.links.log, "identity": sm.families.links.identity}
    family_class = families[request["family"]]
    family = family_class(links[request["link"]]()) if request.get("link") else family_class()
    kwargs = {}
    if request.get("offset"):
        values = data[request["offset"]["column"]].astype(float)
        kwargs["offset"] = np.log(values) if request["offset"].get("log") else values
    if request.get("weights"):
        kwargs["var_weights"] = data[request["weights"]].astype(float)
    model = smf.glm(request["formula"], data=data, family=family, **kwargs)
    # statsmodels' defaults (tol 1e-8 on the absolute deviance change) give the iteration count;
    # its standard errors then come from the previous iterate's working weights and lag the
    # converged values by up to ~1e-5 relative, so the reference numbers come from a fit run to
    # full convergence (the pooled MLE), and the default fit's numbers are reported beside them.
    default = model.fit(tol=1e-8, maxiter=100)
    result = model.fit(tol=1e-13, maxiter=200)

    def name(n):
        return "(Intercept)" if n == "Intercept" else n

    def series(s):
        return {name(k): float(v) for k, v in s.items()}

    ci = result.conf_int()
    return {
        "params": series(result.params),
        "bse": series(result.bse),
        "pvalues": series(result.pvalues),
        "conf_int": {name(k): [float(ci.loc[k, 0]), float(ci.loc[k, 1])] for k in ci.index},
        "deviance": float(result.deviance),
        "null_deviance": float(result.null_deviance),
        "llf": float(result.llf),
        "aic": float(result.aic),
        "bic_llf": float(-2 * result.llf + np.log(result.nobs) * (result.df_model + 1)),
        "pearson_chi2": float(result.pearson_chi2),
        "scale": float(result.scale),
        "df_resid": float(result.df_resid),
        "nobs": float(result.nobs),
        "iterations": int(default.fit_history["iteration"]),
        "converged": bool(default.converged),
        "default_params": series(default.params),
        "default_bse": series(default.bse),
        "fitted": [float(v) for v in result.fittedvalues] if request.get("fitted") else None,
    }


def main():
    request = json.load(sys.stdin)
    answer = export(request) if "export" in request else fit(request)
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
