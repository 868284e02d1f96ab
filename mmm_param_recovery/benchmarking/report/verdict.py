"""The verdict: which fitter can be trusted on this data, with its uncertainty.

Built from the summary tables only (nothing is re-read from the run folders):

- ``verdict_fits`` (``summary/verdict_fits.csv``): one row per planned fit with the numbers
  the verdict uses: ROAS |relative error| over identified and all channels beside the
  oracle floor, marginal ROAS |relative error| and response-curve error (all channels),
  the share of channel ROAS truths inside the 94 % HDI, ESS/s, wall time,
  peak memory, the convergence checks and the prior flags.
- ``verdict_table`` (``summary/verdict.csv``): one row per (dataset, priors, fitter):
  means over the ok seeds with their Monte-Carlo standard errors, coverage with its
  binomial SE, and a ``convergence`` mark that is never empty for a fitter with a fit
  that failed a check.
- ``verdict_sentences``: plain sentences generated from those numbers (paired
  differences between fitters on the same seeds, within or beyond two SE).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from mmm_param_recovery.benchmarking.report.tables import channel_rows

FIT_ID = ("dataset", "seed", "fitter", "priors")
GROUP = ("dataset", "priors", "fitter")
RHAT_LIMIT = 1.01
"""A fit whose largest R-hat (canonical quantities or free parameters) exceeds this is
marked (Vehtari et al. 2021)."""
ESS_PER_CHAIN = 100
"""A fit whose smallest canonical bulk ESS is below this many per chain is marked."""
NOISE_SE = 2.0
"""Two fitters differ "beyond noise" when their paired difference exceeds this many SE."""

FIT_COLUMNS = (*FIT_ID, "run_key", "status", "roas_error_identified", "oracle_error_identified",
               "n_identified", "roas_error_all", "oracle_error_all", "n_channels",
               "minus_oracle_identified", "minus_oracle_all", "marginal_roas_error_all",
               "curve_error_all", "roas_in_hdi94", "roas_in_hdi94_n",
               "ess_per_second", "total_seconds",
               "peak_rss_gb", "rhat_max", "n_divergences", "ess_bulk_min", "chains",
               "convergence", "prior_flags")
MEAN_METRICS = ("roas_error_identified", "oracle_error_identified", "minus_oracle_identified",
                "roas_error_all", "oracle_error_all", "minus_oracle_all",
                "marginal_roas_error_all", "curve_error_all", "ess_per_second", "total_seconds")
"""Averaged over a fitter's ok seeds, each with its MCSE; ``minus_oracle_*`` (fitter minus
oracle on the same data, per seed) is the paired distance from the floor."""


def _per_fit(tables: Mapping[str, pd.DataFrame], name: str, columns: dict[str, str],
             where: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``run_key`` and ``columns`` (source -> new name) of ``tables[name]`` (empty when
    the table or a column is absent: the fit then has NaN there)."""
    table = tables.get(name)
    if table is None or "run_key" not in table:
        return pd.DataFrame(columns=["run_key", *columns.values()])
    for column, value in (where or {}).items():
        table = table[table[column].astype(str) == value]
    present = {k: v for k, v in columns.items() if k in table}
    frame = table[["run_key", *present]].rename(columns=present).dropna(subset=["run_key"])
    return frame.drop_duplicates("run_key").reindex(columns=["run_key", *columns.values()])


def _roas_coverage(recovery: pd.DataFrame | None) -> pd.DataFrame:
    """Per fit: share (and count) of channels whose true ROAS lies in the 94 % HDI."""
    if recovery is None or "stat" not in recovery:
        return pd.DataFrame(columns=["run_key", "roas_in_hdi94", "roas_in_hdi94_n"])
    rows = channel_rows(recovery)
    rows = rows[(rows["stat"] == "in_hdi")
                & np.isclose(pd.to_numeric(rows["level"], errors="coerce"), 0.94)]
    return rows.groupby("run_key")["value"].agg(roas_in_hdi94="mean",
                                                roas_in_hdi94_n="size").reset_index()


def _curve_errors(recovery: pd.DataFrame | None) -> pd.DataFrame:
    """Per fit: marginal ROAS mean |relative error| and the response curve's integrated
    relative error, both the mean over channels (NaN for a fit without curves)."""
    columns = {("marginal_roas", "mean_abs_rel_error"): "marginal_roas_error_all",
               ("response_curve", "integrated_rel_error"): "curve_error_all"}
    if recovery is None or "stat" not in recovery:
        return pd.DataFrame(columns=["run_key", *columns.values()])
    pooled = recovery[(recovery["channel"] == "all") & (recovery["geo"] == "all")]
    frames = [pooled[(pooled["quantity"] == q) & (pooled["stat"] == s)][["run_key", "value"]]
              .rename(columns={"value": name}) for (q, s), name in columns.items()]
    merged = frames[0].merge(frames[1], on="run_key", how="outer")
    return merged.drop_duplicates("run_key")


def _prior_flags(prior_checks: pd.DataFrame | None) -> pd.DataFrame:
    """Per fit: the channels whose prior excludes the truth, comma-separated."""
    if prior_checks is None or "prior_excludes_truth" not in prior_checks:
        return pd.DataFrame(columns=["run_key", "prior_flags"])
    flagged = prior_checks[prior_checks["prior_excludes_truth"] == 1]
    return flagged.groupby("run_key")["channel"].agg(
        lambda c: ", ".join(map(str, c))).rename("prior_flags").reset_index()


def convergence_mark(rhat_max: float, n_divergences: float, ess_bulk_min: float,
                     chains: float) -> str:
    """``ok`` or the failed checks (``R-hat 1.03 > 1.01; 4 divergences; ESS 120 < 200``);
    ``unknown`` when no diagnostic is available."""
    values = (rhat_max, n_divergences, ess_bulk_min)
    if all(pd.isna(v) for v in values):
        return "unknown"
    marks = []
    if not pd.isna(rhat_max) and rhat_max > RHAT_LIMIT:
        marks.append(f"R-hat {rhat_max:.3f} > {RHAT_LIMIT}")
    if not pd.isna(n_divergences) and n_divergences > 0:
        marks.append(f"{int(n_divergences)} divergences")
    floor = ESS_PER_CHAIN * (chains if not pd.isna(chains) else 1)
    if not pd.isna(ess_bulk_min) and ess_bulk_min < floor:
        marks.append(f"ESS {ess_bulk_min:.0f} < {floor:.0f}")
    return "; ".join(marks) or "ok"


def verdict_fits(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """``summary/verdict_fits.csv``: one row per planned fit (``FIT_COLUMNS``)."""
    status = tables["run_status"]
    base = status.reindex(columns=[*FIT_ID, "run_key", "status", "chains"])
    diagnostics = _per_fit(tables, "diagnostics_summary", {
        "canonical_rhat_max": "rhat_canonical", "free_rhat_max": "rhat_free",
        "sampler_n_divergences": "n_divergences", "canonical_ess_bulk_min": "ess_bulk_min"})
    diagnostics["rhat_max"] = diagnostics[["rhat_canonical", "rhat_free"]].max(axis=1)
    parts = [
        _per_fit(tables, "recovery_vs_oracle", {c: c for c in FIT_COLUMNS[6:14]}),
        _curve_errors(tables.get("recovery_metrics")),
        _roas_coverage(tables.get("recovery_metrics")),
        _per_fit(tables, "ess_comparison", {"ess_per_second": "ess_per_second"}),
        _per_fit(tables, "runtime_comparison", {"total_seconds": "total_seconds",
                                                "peak_rss_gb": "peak_rss_gb"}),
        diagnostics.drop(columns=["rhat_canonical", "rhat_free"]),
        _prior_flags(tables.get("prior_checks")),
    ]
    fits = base
    for part in parts:
        fits = fits.merge(part, on="run_key", how="left")
    ok = fits["status"] == "ok"
    fits["convergence"] = [
        convergence_mark(r, d, e, c) if is_ok else "" for r, d, e, c, is_ok in zip(
            fits["rhat_max"], fits["n_divergences"], fits["ess_bulk_min"], fits["chains"], ok,
            strict=True)]
    fits["prior_flags"] = fits["prior_flags"].fillna("")
    return fits.reindex(columns=list(FIT_COLUMNS))


def mean_and_mcse(values: pd.Series) -> tuple[float, float, int]:
    """Mean over seeds, its Monte-Carlo SE (sd / sqrt(n); NaN with fewer than 2) and n."""
    values = pd.to_numeric(values, errors="coerce").dropna()
    n = len(values)
    if n == 0:
        return math.nan, math.nan, 0
    se = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return float(values.mean()), se, n


def _coverage(rows: pd.DataFrame) -> tuple[float, float, int]:
    """Pooled share of channel truths in the 94 % HDI over the fits, binomial SE, n."""
    n = rows["roas_in_hdi94_n"].fillna(0).sum()
    if n == 0:
        return math.nan, math.nan, 0
    share = float((rows["roas_in_hdi94"] * rows["roas_in_hdi94_n"]).sum() / n)
    return share, math.sqrt(share * (1 - share) / n), int(n)


def _group_convergence(rows: pd.DataFrame) -> str:
    """``ok`` when every ok fit passed, else ``k of n fits: <each failed check, with how
    many fits failed it and the worst value>``."""
    ok = rows[rows["status"] == "ok"]
    if ok.empty:
        return "no ok fit"
    bad = ok[ok["convergence"] != "ok"]
    if bad.empty:
        return "ok"
    floor = ESS_PER_CHAIN * pd.to_numeric(ok["chains"], errors="coerce").fillna(1)
    checks = [
        (ok["rhat_max"] > RHAT_LIMIT, lambda s: f"R-hat > {RHAT_LIMIT} (max {s.max():.3f})",
         ok["rhat_max"]),
        (ok["n_divergences"] > 0, lambda s: f"divergences (max {s.max():.0f})",
         ok["n_divergences"]),
        (ok["ess_bulk_min"] < floor, lambda s: f"ESS < {ESS_PER_CHAIN}/chain (min {s.min():.0f})",
         ok["ess_bulk_min"]),
    ]
    parts = [f"{describe(values[failed])} in {int(failed.sum())}"
             for failed, describe, values in checks if failed.any()]
    unknown = int((bad["convergence"] == "unknown").sum())
    parts += [f"no diagnostics in {unknown}"] if unknown else []
    return f"{len(bad)} of {len(ok)} fits: " + "; ".join(parts)


def _group_prior_flags(ok: pd.DataFrame) -> str:
    """``x4_radio (5 of 5 fits), x1_tv (1 of 5 fits)``: channels whose prior excludes the
    truth, with how many of the ok fits flag them; empty when none does."""
    counts: dict[str, int] = {}
    for flags in ok["prior_flags"].fillna(""):
        for channel in filter(None, str(flags).split(", ")):
            counts[channel] = counts.get(channel, 0) + 1
    return ", ".join(f"{c} ({n} of {len(ok)} fits)" for c, n in counts.items())


def verdict_table(fits: pd.DataFrame) -> pd.DataFrame:
    """``summary/verdict.csv``: one row per (dataset, priors, fitter) of ``verdict_fits``."""
    rows = []
    for key, group in fits.groupby(list(GROUP), sort=False):
        ok = group[group["status"] == "ok"]
        row = dict(zip(GROUP, key, strict=True))
        row.update(n_fits=len(group), n_ok=len(ok))
        for metric in MEAN_METRICS:
            row[metric], row[f"{metric}_mcse"], _ = mean_and_mcse(ok[metric])
        row["roas_in_hdi94"], row["roas_in_hdi94_se"], row["roas_in_hdi94_n"] = _coverage(ok)
        row["peak_rss_gb_max"] = pd.to_numeric(ok["peak_rss_gb"], errors="coerce").max()
        row["n_identified"] = pd.to_numeric(ok["n_identified"], errors="coerce").mean()
        row["n_channels"] = pd.to_numeric(ok["n_channels"], errors="coerce").max()
        row["convergence"] = _group_convergence(group)
        row["prior_flags"] = _group_prior_flags(ok)
        rows.append(row)
    return pd.DataFrame(rows)


def _ranking_metric(group: pd.DataFrame) -> str:
    """Identified-channel error when every fitter of the group has it, else all channels."""
    has = group["roas_error_identified"].notna().all() and len(group)
    return "roas_error_identified" if has else "roas_error_all"


def paired_difference(fits: pd.DataFrame, fitter: str, best: str, metric: str,
                      where: Mapping[str, str]) -> tuple[float, float, int]:
    """Mean over common ok seeds of ``metric`` of ``fitter`` minus that of ``best`` (the
    same datasets: a paired difference), its SE and the number of seeds."""
    rows = fits[(fits["status"] == "ok")]
    for column, value in where.items():
        rows = rows[rows[column] == value]
    wide = rows.pivot_table(index="seed", columns="fitter", values=metric, aggfunc="first")
    if fitter not in wide or best not in wide:
        return math.nan, math.nan, 0
    return mean_and_mcse(wide[fitter] - wide[best])


def _number(value: float, se: float) -> str:
    return f"{value:.3g}" if pd.isna(se) else f"{value:.3g} ± {se:.2g}"


def _identified_per_seed(group: pd.DataFrame) -> str:
    """The mean number of identified channels per seed, as text (``1`` or ``2.4``)."""
    return f"{group['n_identified'].mean():.2g}"


def _marked(row: Mapping) -> str:
    """The fitter's name with its convergence mark when it has one."""
    mark = row["convergence"]
    if mark == "ok":
        return row["fitter"]
    return f"{row['fitter']} (not converged in {mark.split(':', 1)[0]})"


def _group_sentences(fits: pd.DataFrame, group: pd.DataFrame, dataset: str,
                     priors: str) -> list[str]:
    ranked = group.dropna(subset=[_ranking_metric(group)])
    metric = _ranking_metric(group)
    what = (f"the identified channels ({_identified_per_seed(group)} of "
            f"{group['n_channels'].max():.0f} per seed)" if metric == "roas_error_identified"
            else "all channels (some fit's data identify no channel)")
    head = f"{dataset}, priors {priors}:"
    if ranked.empty:
        return [f"{head} no fitter has a ROAS error (no ok fit)."]
    ranked = ranked.sort_values(metric)
    best = ranked.iloc[0]
    oracle = metric.replace("roas_error", "oracle_error")
    above = metric.replace("roas_error", "minus_oracle")
    sentences = [f"{head} lowest mean ROAS |relative error| over {what}: {_marked(best)} "
                 f"{_number(best[metric], best[metric + '_mcse'])} over {best['n_ok']} "
                 f"seed(s); the oracle floor on the same data is "
                 f"{_number(best[oracle], best[oracle + '_mcse'])} (fitter minus oracle "
                 f"{_number(best[above], best[above + '_mcse'])})."]
    where = {"dataset": dataset, "priors": priors}
    for _, other in ranked.iloc[1:].iterrows():
        diff, se, n = paired_difference(fits, other["fitter"], best["fitter"], metric, where)
        if pd.isna(se):
            verdict = f"higher by {diff:.3g} on {n} seed(s), with no SE: not ranked"
        elif abs(diff) > NOISE_SE * se:
            verdict = f"worse by {diff:.3g} ± {se:.2g} over {n} paired seeds (beyond noise)"
        else:
            verdict = (f"indistinguishable from it (difference {diff:.3g} ± {se:.2g} over {n} "
                       f"paired seeds, within {NOISE_SE:g} SE)")
        sentences.append(f"{head} {_marked(other)} is {verdict}.")
    for _, row in group[group["prior_flags"] != ""].iterrows():
        sentences.append(f"{head} the prior of {row['fitter']} excludes the true ROAS of "
                         f"{row['prior_flags']}: there its estimate reflects its prior.")
    return sentences


def verdict_sentences(fits: pd.DataFrame, verdict: pd.DataFrame) -> list[str]:
    """Sentences generated from ``verdict_fits`` and ``verdict_table`` (see module doc)."""
    if verdict.empty:
        return ["No fit succeeded: there is nothing to rank."]
    sentences = []
    if fits.loc[fits["status"] == "ok", "seed"].nunique() < 2:
        sentences.append("One seed: rankings need several seeds (e.g. --seeds 1 2 3 4 5); "
                         "the differences below carry no standard error.")
    for (dataset, priors), group in verdict.groupby(["dataset", "priors"], sort=False):
        sentences += _group_sentences(fits, group, dataset, priors)
    return sentences
