"""Sample-based statistics vectorised over many scalars at once.

Arrays carry the posterior samples on the LAST axis: shape ``(*cells, n)``, where a
cell is one scalar quantity (e.g. one channel in one geo) and ``n = chains * draws``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from mmm_param_recovery.benchmarking.metrics.checks import SAMPLE_DIMS


def samples_last(da: xr.DataArray, dims: tuple[str, ...]) -> np.ndarray:
    """Values of ``da`` (chain, draw, *dims) as an array ``(*dims, chain * draw)``."""
    values = da.transpose(*dims, *SAMPLE_DIMS).values
    return values.reshape(*values.shape[: len(dims)], -1)


def hdi_sorted(sorted_samples: np.ndarray, prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Highest-density interval of each cell, from samples sorted along the last axis.

    The narrowest interval holding ``floor(prob * n)`` sample gaps: the same estimator as
    ``arviz.hdi`` (unimodal, non-circular), vectorised. Returns ``(low, high)``, each of
    shape ``(*cells,)``, in the samples' units.
    """
    n = sorted_samples.shape[-1]
    span = int(np.floor(prob * n))
    if span >= n:
        raise ValueError(f"prob: {prob} leaves no interval for {n} samples; allowed: < 1")
    widths = sorted_samples[..., span:] - sorted_samples[..., : n - span]
    start = np.argmin(widths, axis=-1)[..., None]
    low = np.take_along_axis(sorted_samples, start, axis=-1)[..., 0]
    high = np.take_along_axis(sorted_samples, start + span, axis=-1)[..., 0]
    return low, high


def crps_sorted(sorted_samples: np.ndarray, obs: np.ndarray, fair: bool = True) -> np.ndarray:
    """Continuous ranked probability score of each cell's sample ensemble against ``obs``.

    ``CRPS = mean_i |x_i - y| - 1/(2 m (m-1)) * sum_{i != j} |x_i - x_j|`` (``fair=True``,
    unbiased for the CRPS of the distribution the m samples come from) or with
    ``1/(2 m^2)`` (``fair=False``, the ensemble's own CRPS, as ``properscoring``). The
    pair sum uses the sorted samples: ``sum_{i<j} |x_i - x_j| = sum_k (2k - m - 1) x_(k)``.
    ``obs`` has shape ``(*cells,)``; the result is in the samples' units.
    """
    m = sorted_samples.shape[-1]
    mean_abs = np.mean(np.abs(sorted_samples - obs[..., None]), axis=-1)
    weights = 2.0 * np.arange(1, m + 1) - m - 1
    half_pair_sum = sorted_samples @ weights
    return mean_abs - half_pair_sum / (m * (m - 1) if fair else m * m)


def rank_of_truth(samples: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Rank of ``truth`` among each cell's samples: ``#(x < t) + #(x == t) / 2``, in [0, n]."""
    below = np.count_nonzero(samples < truth[..., None], axis=-1)
    ties = np.count_nonzero(samples == truth[..., None], axis=-1)
    return below + 0.5 * ties


def equal_tailed(samples: np.ndarray, prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed interval: quantiles ``(1-prob)/2`` and ``(1+prob)/2`` of each cell.

    Quantiles use numpy's default (linear interpolation between order statistics).
    """
    low, high = np.quantile(samples, [(1.0 - prob) / 2.0, (1.0 + prob) / 2.0], axis=-1)
    return low, high


def mean_and_hdi(samples: np.ndarray, prob: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and HDI ``(mean, low, high)`` of each cell's samples (last axis)."""
    low, high = hdi_sorted(np.sort(samples, axis=-1), prob)
    return samples.mean(axis=-1), low, high
