#!/usr/bin/python3
"""Pooled-data oracle for the federated descriptive statistics: pandas and numpy on the pooled rows
of a dataset statsmodels ships, split round-robin into station files.

Reads one JSON request on stdin, prints one JSON answer on stdout:

  {"dataset": "fair", "out": DIR, "stations": 3}
      writes DIR/station-1.csv … (row i goes to station i mod k, header in each) and answers the
      reference statistics the test compares against (see `answer` below): per-group n, sum, mean
      and variance (ddof=1) by pandas; type-1 quantiles by numpy (method="inverted_cdf", R's
      quantile(type = 1)); cross-tabulations with margins by pandas.crosstab; proportions by pandas.
"""
import json
import os
import sys

import numpy as np
import pandas as pd
import statsmodels.api as sm


def main():
    request = json.load(sys.stdin)
    data = getattr(sm.datasets, request["dataset"]).load_pandas().data
    k = int(request["stations"])
    os.makedirs(request["out"], exist_ok=True)
    files = []
    for s in range(k):
        path = os.path.join(request["out"], f"station-{s + 1}.csv")
        data.iloc[s::k].to_csv(path, index=False)
        files.append(path)

    def summary(frame, column):
        x = frame[column].dropna()
        return {"n": int(x.size), "sum": float(x.sum()), "mean": float(x.mean()), "variance": float(x.var(ddof=1))}

    by_religious = {str(int(g)): summary(f, "affairs") for g, f in data.groupby("religious")}
    quantiles = {str(p): float(np.quantile(data["affairs"], p, method="inverted_cdf")) for p in (0.5, 0.75, 0.9)}
    sub = data[(data.occupation >= 2) & (data.occupation <= 5)]
    table = pd.crosstab(sub.religious, sub.occupation, margins=True, margins_name="total")
    crosstab = {str(r if r == "total" else int(r)): {str(c if c == "total" else int(c)): int(v) for c, v in row.items()} for r, row in table.iterrows()}
    had_affair = {str(int(g)): [int((f.affairs > 0).sum()), int(f.shape[0])] for g, f in sub.groupby("occupation")}
    json.dump(
        {
            "files": files,
            "rows": int(data.shape[0]),
            "affairs_by_religious": by_religious,
            "yrs_married": summary(data, "yrs_married"),
            "affairs_quantiles": quantiles,
            "crosstab_religious_occupation": crosstab,
            "had_affair_by_occupation": had_affair,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
