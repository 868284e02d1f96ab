"""Summaries of one scenario fitted under K replicate seeds (formulas: docs/metrics.md).

Input: the tidy rows of every replicate, either as one iterable of rows that each carry a
``seed`` key or as a mapping ``{seed: rows}``. A row is identified within a seed by
``rows.IDENTITY`` (quantity, stat, level, channel, geo); a duplicate raises. Output rows
carry the same identity columns and no provenance (the caller stamps it). Non-finite
values are never dropped silently: each output row counts them in ``n_nonfinite``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
from scipy import stats

from mmm_param_recovery.benchmarking.metrics.rows import ALL, IDENTITY, Row, metric_row
from mmm_param_recovery.errors import MMMBenchmarkError

POOLED = "pooled"
COVERAGE_STAT = "in_hdi"
RANK_STAT = "rank_normalized"
_CHANNEL, _GEO = IDENTITY.index("channel"), IDENTITY.index("geo")

RowsBySeed = Mapping[Any, Iterable[Row]] | Iterable[Row]
_Key = tuple[Any, ...]


def replicate_summary(rows_by_seed: RowsBySeed) -> list[Row]:
    """Mean across seeds of every metric, with its Monte-Carlo standard error.

    One row per identity: ``value`` = mean of the finite
    values, ``mcse`` = sample sd (ddof 1) / sqrt(n_seeds) (NaN for fewer than 2),
    ``n_seeds`` finite values used, ``n_nonfinite`` values that were NaN or inf.
    """
    rows = []
    for key, by_seed in _grouped(rows_by_seed).items():
        values, n_bad = _finite(list(by_seed.values()))
        mean = values.mean() if values.size else math.nan
        mcse = values.std(ddof=1) / math.sqrt(values.size) if values.size > 1 else math.nan
        rows.append(_row(key, mean, mcse=mcse, n_seeds=values.size, n_nonfinite=n_bad))
    return rows


def coverage_rates(rows_by_seed: RowsBySeed) -> list[Row]:
    """Empirical coverage of the ``in_hdi`` indicators against their nominal level.

    Rows per cell (across seeds) and pooled over the cells of a level: a specific channel
    or geo label becomes ``"pooled"``. ``value`` = covered fraction p_hat of the ``n``
    finite indicators; ``nominal``; ``binomial_se`` = sqrt(p_hat (1 - p_hat) / n);
    ``binomial_se_nominal`` = sqrt(p (1 - p) / n) (the SE if calibrated); ``n_nonfinite``.
    Pooled cells of one seed share a dataset, so their SE is optimistic.
    """
    groups = _pooled_groups(rows_by_seed, COVERAGE_STAT, cells=True)
    rows = []
    for key, raw in groups.items():
        values, n_bad = _finite(raw)
        nominal = float(key[IDENTITY.index("level")])
        rate = values.mean() if values.size else math.nan
        extra = {
            "nominal": nominal,
            "binomial_se": _binomial_se(rate, values.size),
            "binomial_se_nominal": _binomial_se(nominal, values.size),
            "n": values.size,
            "n_nonfinite": n_bad,
        }
        rows.append(_row(key, rate, **extra))
    return rows


def rank_uniformity(rows_by_seed: RowsBySeed, n_bins: int | None = None) -> list[Row]:
    """SBC-style uniformity tests of the pooled normalised ranks (stat ``rank_normalized``).

    Ranks are pooled over seeds and over the cells of a level (labels ``"pooled"``). Two
    rows per group, same quantity: stat ``rank_chi2_pvalue`` (chi-square test of
    ``n_bins`` equal bins on [0, 1]; default ``min(20, n // 5)``, at least 2, else NaN
    with a note) and ``rank_ks_pvalue`` (Kolmogorov-Smirnov vs Uniform(0, 1)); extras
    ``statistic``, ``n``, ``n_nonfinite`` (and ``n_bins``).
    """
    groups = _pooled_groups(rows_by_seed, RANK_STAT, cells=False)
    rows = []
    stat_index = IDENTITY.index("stat")
    for key, raw in groups.items():
        ranks, n_bad = _finite(raw)
        counts = {"n": ranks.size, "n_nonfinite": n_bad}
        for test, (pvalue, extra) in (
            ("chi2", _chi2_test(ranks, n_bins)),
            ("ks", _ks_test(ranks)),
        ):
            test_key = (*key[:stat_index], f"rank_{test}_pvalue", *key[stat_index + 1:])
            rows.append(_row(test_key, pvalue, **extra, **counts))
    return rows


def _chi2_test(ranks: np.ndarray, n_bins: int | None) -> tuple[float, dict[str, Any]]:
    bins = n_bins if n_bins is not None else min(20, ranks.size // 5)
    if bins < 2:
        note = f"{ranks.size} ranks give {bins} bins; need at least 2 (5 ranks per bin)"
        return math.nan, {"statistic": math.nan, "n_bins": bins, "note": note}
    observed, _ = np.histogram(ranks, bins=bins, range=(0.0, 1.0))
    test = stats.chisquare(observed)
    return float(test.pvalue), {"statistic": float(test.statistic), "n_bins": bins}


def _ks_test(ranks: np.ndarray) -> tuple[float, dict[str, Any]]:
    if not ranks.size:
        return math.nan, {"statistic": math.nan, "note": "no finite ranks"}
    test = stats.kstest(ranks, "uniform")
    return float(test.pvalue), {"statistic": float(test.statistic)}


def _seeded_rows(rows_by_seed: RowsBySeed) -> Iterator[tuple[Any, Row]]:
    if isinstance(rows_by_seed, Mapping):
        for seed, rows in rows_by_seed.items():
            for row in rows:
                if row.get("seed", seed) != seed:
                    raise MMMBenchmarkError(f"seed: row says {row['seed']!r}, mapping {seed!r}")
                yield seed, row
        return
    for row in rows_by_seed:
        if "seed" not in row:
            raise MMMBenchmarkError(f"seed: missing in row {row}; allowed: rows with a seed")
        yield row["seed"], row


def _grouped(rows_by_seed: RowsBySeed) -> dict[_Key, dict[Any, float]]:
    """``{identity: {seed: value}}``; duplicates raise."""
    groups: dict[_Key, dict[Any, float]] = defaultdict(dict)
    for seed, row in _seeded_rows(rows_by_seed):
        key = tuple(_label(row.get(k)) for k in IDENTITY)
        if seed in groups[key]:
            labels = dict(zip(IDENTITY, key, strict=True))
            raise MMMBenchmarkError(f"seed {seed!r}: duplicate row {labels}")
        groups[key][seed] = float(row["value"])
    return groups


def _pooled_groups(rows_by_seed: RowsBySeed, stat: str, cells: bool) -> dict[_Key, list[float]]:
    """Values of the rows of ``stat`` pooled over seeds and over cells of each level.

    With ``cells``, each cell also keeps its own group (pooled over seeds only).
    """
    pooled: dict[_Key, list[float]] = defaultdict(list)
    stat_index = IDENTITY.index("stat")
    for key, by_seed in _grouped(rows_by_seed).items():
        if key[stat_index] != stat:
            continue
        level = tuple(_pool(label) if index in (_CHANNEL, _GEO) else label
                      for index, label in enumerate(key))
        if cells and level != key:
            pooled[key] += by_seed.values()
        pooled[level] += by_seed.values()
    return pooled


def _pool(label: Any) -> Any:
    return label if label in (None, ALL) else POOLED


def _finite(values: list[float]) -> tuple[np.ndarray, int]:
    array = np.asarray(values, dtype=float)
    finite = np.isfinite(array)
    return array[finite], int(array.size - finite.sum())


def _binomial_se(p: float, n: int) -> float:
    return math.sqrt(p * (1.0 - p) / n) if n else math.nan


def _label(value: Any) -> Any:
    """A row label as a hashable key: NaN levels (as read from a table) become None."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _row(key: _Key, value: float, note: str = "", **extra: Any) -> Row:
    labels = dict(zip(IDENTITY, key, strict=True))
    return {**metric_row(value=value, note=note, **labels), **extra}
