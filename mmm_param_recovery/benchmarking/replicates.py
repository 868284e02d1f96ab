"""Summaries of one scenario fitted under K replicate seeds (formulas: docs/metrics.md).

Input: the tidy rows of every replicate, either as one iterable of rows that each carry a
``seed`` key or as a mapping ``{seed: rows}``. A row is identified within a seed by
``(metric, channel, geo, variable)``; a duplicate raises. Non-finite values are never
dropped silently: each output row counts them in ``n_nonfinite``.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
from scipy import stats

from mmm_param_recovery.benchmarking._rows import ALL, Row, metric_row
from mmm_param_recovery.errors import MMMBenchmarkError

ID_KEYS = ("metric", "channel", "geo", "variable")
POOLED = "pooled"
RANK_SUFFIX = "_rank_normalized"
_COVERAGE = re.compile(r"_in_hdi(\d+)$")

RowsBySeed = Mapping[Any, Iterable[Row]] | Iterable[Row]
_Key = tuple[Any, ...]


def replicate_summary(rows_by_seed: RowsBySeed, run_key: str) -> list[Row]:
    """Mean across seeds of every metric, with its Monte-Carlo standard error.

    One row per ``(metric, channel, geo, variable)``: ``value`` = mean of the finite
    values, ``mcse`` = sample sd (ddof 1) / sqrt(n_seeds) (NaN for fewer than 2),
    ``n_seeds`` finite values used, ``n_nonfinite`` values that were NaN or inf.
    """
    rows = []
    for key, by_seed in _grouped(rows_by_seed).items():
        values, n_bad = _finite(list(by_seed.values()))
        mean = values.mean() if values.size else math.nan
        mcse = values.std(ddof=1) / math.sqrt(values.size) if values.size > 1 else math.nan
        rows.append(_row(run_key, key, mean, mcse=mcse, n_seeds=values.size, n_nonfinite=n_bad))
    return rows


def coverage_rates(rows_by_seed: RowsBySeed, run_key: str) -> list[Row]:
    """Empirical coverage of the ``*_in_hdi{p}`` indicators against the nominal p / 100.

    Rows per cell (across seeds) and pooled over the cells of a level: a specific channel
    or geo label becomes ``"pooled"``. ``value`` = covered fraction p_hat of the ``n``
    finite indicators; ``nominal``; ``binomial_se`` = sqrt(p_hat (1 - p_hat) / n);
    ``binomial_se_nominal`` = sqrt(p (1 - p) / n) (the SE if calibrated); ``n_nonfinite``.
    Pooled cells of one seed share a dataset, so their SE is optimistic.
    """
    groups = _pooled_groups(rows_by_seed, lambda m: _COVERAGE.search(m) is not None, cells=True)
    rows = []
    for key, raw in groups.items():
        values, n_bad = _finite(raw)
        nominal = int(_COVERAGE.search(key[0]).group(1)) / 100.0
        rate = values.mean() if values.size else math.nan
        extra = {
            "nominal": nominal,
            "binomial_se": _binomial_se(rate, values.size),
            "binomial_se_nominal": _binomial_se(nominal, values.size),
            "n": values.size,
            "n_nonfinite": n_bad,
        }
        rows.append(_row(run_key, key, rate, **extra))
    return rows


def rank_uniformity(rows_by_seed: RowsBySeed, run_key: str, n_bins: int | None = None) -> list[Row]:
    """SBC-style uniformity tests of the pooled normalised ranks (``*_rank_normalized``).

    Ranks are pooled over seeds and over the cells of a level (labels ``"pooled"``). Two
    rows per group: ``{q}_rank_chi2_pvalue`` (chi-square test of ``n_bins`` equal bins on
    [0, 1]; default ``min(20, n // 5)``, at least 2, else NaN with a note) and
    ``{q}_rank_ks_pvalue`` (Kolmogorov-Smirnov vs Uniform(0, 1)); extras ``statistic``,
    ``n``, ``n_nonfinite`` (and ``n_bins``).
    """
    groups = _pooled_groups(rows_by_seed, lambda m: m.endswith(RANK_SUFFIX), cells=False)
    rows = []
    for key, raw in groups.items():
        ranks, n_bad = _finite(raw)
        base = key[0].removesuffix(RANK_SUFFIX)
        counts = {"n": ranks.size, "n_nonfinite": n_bad}
        for test, (pvalue, extra) in (
            ("chi2", _chi2_test(ranks, n_bins)),
            ("ks", _ks_test(ranks)),
        ):
            metric_key = (f"{base}_rank_{test}_pvalue", *key[1:])
            rows.append(_row(run_key, metric_key, pvalue, **extra, **counts))
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
    """``{(metric, channel, geo, variable): {seed: value}}``; duplicates raise."""
    groups: dict[_Key, dict[Any, float]] = defaultdict(dict)
    for seed, row in _seeded_rows(rows_by_seed):
        key = tuple(row.get(k) for k in ID_KEYS)
        if seed in groups[key]:
            labels = dict(zip(ID_KEYS, key, strict=True))
            raise MMMBenchmarkError(f"seed {seed!r}: duplicate row {labels}")
        groups[key][seed] = float(row["value"])
    return groups


def _pooled_groups(
    rows_by_seed: RowsBySeed, wanted: Callable[[str], bool], cells: bool
) -> dict[_Key, list[float]]:
    """Values of the ``wanted`` metrics pooled over seeds and over cells of each level.

    With ``cells``, each cell also keeps its own group (pooled over seeds only).
    """
    pooled: dict[_Key, list[float]] = defaultdict(list)
    for key, by_seed in _grouped(rows_by_seed).items():
        if not wanted(key[0]):
            continue
        level = (key[0], _pool(key[1]), _pool(key[2]), key[3])
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


def _row(run_key: str, key: _Key, value: float, **extra: Any) -> Row:
    metric, channel, geo, variable = key
    if variable is not None:
        extra["variable"] = variable
    return metric_row(run_key, metric, value, channel, geo, **extra)
