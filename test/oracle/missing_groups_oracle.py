#!/usr/bin/python3
"""Pooled-data oracle for group-by columns with missing values: pandas with dropna=False on the
pooled rows of the station CSV files, so that rows whose group-by value is missing form their own
group, as werkplaats's "(missing)" level does.

argv: the station CSV files. Prints one JSON object; a missing group is keyed "(missing)".
"""
import json
import sys

import numpy as np
import pandas as pd

MISSING = "(missing)"
AGE_EDGES = [60, 80, 110]


def key(v):
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return MISSING
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def main():
    data = pd.concat([pd.read_csv(f, keep_default_na=True, na_values=["", "NA"]) for f in sys.argv[1:]], ignore_index=True)
    quintile = data.groupby("income_quintile", dropna=False)
    counts = {key(k): int(n) for k, n in quintile.size().items()}
    crosstab = {f"{key(s)}|{key(q)}": int(n) for (s, q), n in data.groupby(["sex", "income_quintile"], dropna=False).size().items()}
    medications = {
        key(k): {"n": int(g.count()), "mean": float(g.mean()), "variance": float(g.var(ddof=1))}
        for k, g in quintile["num_medications"]
    }
    fell = {key(k): {"events": int(g.sum()), "n": int(g.count())} for k, g in quintile["fell_12m"]}
    histogram = {}
    for k, g in quintile["age"]:
        bins, _ = np.histogram(g, bins=AGE_EDGES)
        histogram[key(k)] = [int((g < AGE_EDGES[0]).sum()), *map(int, bins), int((g > AGE_EDGES[-1]).sum())]
    json.dump(
        {
            "rows": int(len(data)),
            "missing": int(data["income_quintile"].isna().sum()),
            "count": counts,
            "crosstab": crosstab,
            "medications": medications,
            "fell": fell,
            "ageEdges": AGE_EDGES,
            "ageHistogram": histogram,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
