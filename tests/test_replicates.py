"""Known-answer and bad-input tests of benchmarking.replicates."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import stats

from mmm_param_recovery.benchmarking.metrics.recovery import scalar_recovery_stats
from mmm_param_recovery.benchmarking.metrics.replicates import (
    coverage_rates,
    rank_uniformity,
    replicate_summary,
)
from mmm_param_recovery.errors import MMMBenchmarkError

STATS = ("in_hdi", "rank_normalized", "rank_chi2_pvalue", "rank_ks_pvalue", "bias")


def identity(metric):
    """``(quantity, stat, level)`` of a short test label such as ``roas_in_hdi80`` (a
    quantity with a known stat suffix, an optional level in percent) or a bare name
    (stat ``value``); a tuple ``(quantity, Stat)`` passes through."""
    if isinstance(metric, tuple):
        quantity, (stat, level) = metric
        return quantity, stat, level
    for stat in STATS:
        match = re.fullmatch(rf"(.+)_{stat}(\d*)", metric)
        if match:
            level = int(match.group(2)) / 100 if match.group(2) else None
            return match.group(1), stat, level
    return metric, "value", None


def row(seed, metric, value, channel="x1_tv", geo="all", **extra):
    quantity, stat, level = identity(metric)
    return {"quantity": quantity, "stat": stat, "level": level, "channel": channel,
            "geo": geo, "value": value, "seed": seed, **extra}


def find(rows, metric, channel="x1_tv", geo="all"):
    quantity, stat, level = identity(metric)
    found = [
        r for r in rows if (r["quantity"], r["stat"], r["level"]) == (quantity, stat, level)
        and r["channel"] == channel and r["geo"] == geo
    ]
    assert len(found) == 1, (metric, channel, geo, len(found))
    return found[0]


# ---------------------------------------------------------------- mean and MCSE


def test_mean_and_monte_carlo_standard_error():
    rows = [row(seed, "roas_bias", float(seed)) for seed in (1, 2, 3, 4)]
    result = find(replicate_summary(rows), "roas_bias")
    assert result["value"] == pytest.approx(2.5)
    assert result["mcse"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    assert (result["n_seeds"], result["n_nonfinite"]) == (4, 0)
    assert "run_key" not in result


def test_nonfinite_values_are_counted_not_hidden():
    rows = [row(1, "m", 1.0), row(2, "m", math.nan), row(3, "m", 3.0), row(4, "m", math.inf)]
    result = find(replicate_summary(rows), "m")
    assert result["value"] == pytest.approx(2.0)
    assert (result["n_seeds"], result["n_nonfinite"]) == (2, 2)
    single = find(replicate_summary([row(1, "m", 5.0)]), "m")
    assert single["value"] == 5.0 and math.isnan(single["mcse"])


def test_mapping_input_equals_rows_with_seed():
    rows = [row(s, "m", float(s) ** 2) for s in (10, 20, 30)]
    mapping = {
        s: [{k: v for k, v in r.items() if k != "seed"} for r in rows if r["seed"] == s]
        for s in (10, 20, 30)
    }
    assert replicate_summary(mapping) == replicate_summary(rows)


def test_quantity_keeps_nonfinite_counts_apart():
    rows = [
        row(s, (name, ("nonfinite_count", None)), v, None, None)
        for s in (1, 2)
        for name, v in (("mu", 1.0), ("y_ppc", 3.0))
    ]
    result = replicate_summary(rows)
    assert {(r["quantity"], r["value"]) for r in result} == {("mu", 1.0), ("y_ppc", 3.0)}


def test_duplicate_or_missing_seed_raises():
    with pytest.raises(MMMBenchmarkError, match="duplicate row"):
        replicate_summary([row(1, "m", 1.0), row(1, "m", 2.0)])
    bad = row(1, "m", 1.0)
    del bad["seed"]
    with pytest.raises(MMMBenchmarkError, match="seed: missing"):
        replicate_summary([bad])
    with pytest.raises(MMMBenchmarkError, match="seed: row says 1"):
        replicate_summary({2: [row(1, "m", 1.0)]})


# ---------------------------------------------------------------- coverage


def test_coverage_rates_per_cell_and_pooled_with_binomial_se():
    hits = {"geo_a": [1, 1, 0, 1], "geo_b": [1, 0, 0, 1]}
    rows = [
        row(seed, "roas_in_hdi80", float(v), geo=geo)
        for geo, values in hits.items()
        for seed, v in enumerate(values)
    ] + [row(seed, "roas_in_hdi80", 1.0, "all", "all") for seed in range(4)]
    result = coverage_rates(rows)
    cell = find(result, "roas_in_hdi80", geo="geo_a")
    assert (cell["value"], cell["nominal"], cell["n"]) == (0.75, 0.8, 4)
    assert cell["binomial_se"] == pytest.approx(math.sqrt(0.75 * 0.25 / 4))
    assert cell["binomial_se_nominal"] == pytest.approx(math.sqrt(0.8 * 0.2 / 4))
    pooled = find(result, "roas_in_hdi80", "pooled", "pooled")
    assert (pooled["value"], pooled["n"]) == (5 / 8, 8)
    assert find(result, "roas_in_hdi80", "all", "all")["value"] == 1.0
    assert len(result) == 4
    assert not coverage_rates([row(0, "roas_bias", 1.0)])


def calibrated_rows(n_seeds: int, n_channels: int, n_draws: int) -> list[dict]:
    """Rows of conjugate-normal posteriors: theta ~ N(0, 1), y ~ N(theta, 1) per channel."""
    rng = np.random.default_rng(2024)
    rows = []
    for seed in range(n_seeds):
        theta = rng.normal(size=n_channels)
        y = theta + rng.normal(size=n_channels)
        draws = y[:, None] / 2 + math.sqrt(0.5) * rng.normal(size=(n_channels, n_draws))
        for name, values in scalar_recovery_stats(draws, theta).items():
            rows += [row(seed, ("theta", name), v, f"c{i}") for i, v in enumerate(values)]
    return rows


def test_calibrated_posterior_coverage_is_nominal_within_binomial_se():
    rows = calibrated_rows(n_seeds=300, n_channels=5, n_draws=300)
    result = coverage_rates(rows)
    for prob in (50, 80, 94):
        pooled = find(result, f"theta_in_hdi{prob}", "pooled", "all")
        assert pooled["n"] == 1500
        assert abs(pooled["value"] - prob / 100) < 4 * pooled["binomial_se_nominal"], pooled
    ranks = rank_uniformity(rows)
    assert find(ranks, "theta_rank_ks_pvalue", "pooled", "all")["value"] > 1e-3
    assert find(ranks, "theta_rank_chi2_pvalue", "pooled", "all")["value"] > 1e-3


# ---------------------------------------------------------------- rank uniformity


def test_rank_uniformity_known_statistics():
    rows = [row(s, "roas_rank_normalized", 0.05, f"c{c}") for s in range(10) for c in range(2)]
    result = rank_uniformity(rows, n_bins=2)
    chi2 = find(result, "roas_rank_chi2_pvalue", "pooled", "all")
    assert (chi2["statistic"], chi2["n"], chi2["n_bins"]) == (20.0, 20, 2)
    assert chi2["value"] == pytest.approx(stats.chi2.sf(20.0, df=1))
    ks = find(result, "roas_rank_ks_pvalue", "pooled", "all")
    assert ks["statistic"] == pytest.approx(0.95)
    assert ks["value"] < 1e-10


def test_rank_uniformity_of_uniform_ranks_and_too_few_ranks():
    spread = [row(s, "r_rank_normalized", (s + 0.5) / 50) for s in range(50)]
    result = rank_uniformity(spread)
    chi2 = find(result, "r_rank_chi2_pvalue", "pooled")
    assert (chi2["value"], chi2["n_bins"]) == (pytest.approx(1.0), 10)
    few = rank_uniformity([row(s, "r_rank_normalized", 0.5) for s in range(6)])
    assert math.isnan(find(few, "r_rank_chi2_pvalue", "pooled")["value"])
    assert "need at least 2" in find(few, "r_rank_chi2_pvalue", "pooled")["note"]
