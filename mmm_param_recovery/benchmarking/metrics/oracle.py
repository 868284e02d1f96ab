"""The oracle estimator: the ROAS error no model could avoid on a dataset, and identifiability.

The oracle is GIVEN everything the generator used except the effect sizes: the true
weekly contribution of every channel in every geo (true effect x true adstock and
saturation of the spend), the true baseline form (a per-geo intercept and the true trend
and seasonality series of each geo, with free per-geo coefficients), the control columns
(free per-geo coefficients) and the true noise sd of each geo. It estimates one
multiplier ``m_c`` per channel (truth: exactly 1) and the nuisance coefficients by
generalised least squares with weights ``1 / sigma_g^2`` and the known sigma, so
``Cov = (X' W X)^{-1}`` exactly (no estimated variance). Since ROAS is linear in the
contribution, the oracle ROAS is ``m_c`` x true ROAS and its relative SE is ``se(m_c)``.

Its error is the part of a ROAS error that comes from the noise of this realisation
alone; a model must also learn the transforms and the baseline, so it is a floor, not a
competitor (docs/metrics.md, "Oracle floor and identifiability"). Pure numpy; a
large_business dataset takes about 50 ms.

Units: multipliers and relative SEs unitless; contributions in y units; spend in
currency; ROAS in y units per currency unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from mmm_param_recovery.benchmarking.metrics.rows import ALL, Row, metric_row
from mmm_param_recovery.data_generator.validation import channel_columns, control_columns
from mmm_param_recovery.errors import DatasetFormatError, invalid

DEFAULT_THRESHOLD = 0.3
"""ROAS relative SE above which a channel is weakly identified: at 0.3 the oracle's 94 %
interval is about +-0.56 x the true ROAS (a ROAS of 1 cannot be told from 0.5 or 1.5)
and its expected |relative error| is 0.8 x 0.3 = 24 %."""
Z_94 = 1.8807936081512509
"""Standard-normal quantile at 0.97: the half width, in SEs, of a central 94 % interval."""
BASELINE_TERMS = ("intercept", "trend", "seasonality")
_SPAN_TOL = 1e-8
"""A contribution whose part outside the baseline/control span has a norm below this
fraction of its own norm is not identifiable (absorbed by the nuisance regressors)."""
_RANK_TOL = 1e-10
"""Eigenvalues of the correlation-scaled information below this fraction of the largest
are treated as exactly zero (perfectly collinear channels)."""
KNOWS = ("true weekly contribution of every (geo, channel) (true effect x adstock x "
         "saturation); per-geo intercept, true trend and seasonality series and the "
         "controls as regressors with free per-geo coefficients; the true noise sd per geo")
ESTIMATES = ("one multiplier per channel (truth 1), pooled over geos, and per (geo, "
             "channel); the nuisance coefficients; by GLS with weights 1/sigma_g^2")


@dataclass(frozen=True)
class _Panel:
    """A dataset in geo-first arrays. y (geo, date) and media (geo, date, channel) in y
    units; spend (geo, date, channel) in currency; nuisance (geo, date, term) regressors;
    nuisance_true (geo, term) their true coefficients; sigma (geo,) in y units."""

    geos: list[str]
    channels: list[str]
    terms: list[str]
    y: np.ndarray
    media: np.ndarray
    spend: np.ndarray
    nuisance: np.ndarray
    nuisance_true: np.ndarray
    sigma: np.ndarray


@dataclass(frozen=True)
class _Solution:
    """GLS multipliers of one system: estimate, variance and why a channel is NaN."""

    estimate: np.ndarray
    variance: np.ndarray
    notes: list[str]


def oracle_fit(result: dict[str, Any], y: np.ndarray | None = None) -> xr.Dataset:
    """Fit the oracle to a dataset as returned by ``generate_mmm_dataset`` (or loaded).

    ``y``: optional (date, geo) outcome in y units to use instead of ``data["y"]`` (e.g.
    the noise-free mean, or the mean plus a fresh noise draw). Returns an xr.Dataset
    with, per channel: ``multiplier``, ``multiplier_se`` (unitless), ``spend_total``
    (currency), ``contribution_total_true``, ``contribution_total_oracle``,
    ``contribution_total_se`` (y units), ``roas_true``, ``roas_oracle``, ``roas_se``
    (y per currency), ``roas_rel_se``, ``roas_abs_rel_error`` (= |m - 1|, unitless),
    ``note``; the same per (geo, channel) with the suffix ``_by_geo`` (one multiplier
    per geo and channel); ``nuisance`` and ``nuisance_true`` (geo, term);
    ``noise_scale`` (geo,). NaN with a ``note`` where a multiplier is not identifiable.
    The nuisance coefficients are fitted given the pooled multipliers (0 for a NaN one).
    """
    panel = _panel(result, y)
    basis, scale, values, rotation = _nuisance_basis(panel.nuisance)
    media_r = _residual(basis, panel.media)
    y_r = _residual(basis, panel.y[..., np.newaxis])[..., 0]
    weights, var_scale = _weights(panel.sigma)
    info = np.einsum("gtk,gtl->gkl", media_r, media_r) * weights[:, None, None]
    score = np.einsum("gtk,gt->gk", media_r, y_r) * weights[:, None]
    raw = (panel.media**2).sum(axis=1) * weights[:, None]
    pooled = _solve(info.sum(0), score.sum(0), raw.sum(0), "", var_scale)
    by_geo = [_solve(info[g], score[g], raw[g], f" in geo {geo}", var_scale)
              for g, geo in enumerate(panel.geos)]
    fitted_media = (panel.media * np.nan_to_num(pooled.estimate)).sum(axis=2)
    nuisance = _nuisance_coefficients(basis, scale, values, rotation, panel.y - fitted_media)
    return _assemble(panel, pooled, by_geo, nuisance, y is not None)


def _panel(result: dict[str, Any], y: np.ndarray | None) -> _Panel:
    """Geo-first arrays of a result; raises DatasetFormatError if a needed part is missing."""
    data, truth = result["data"], result["ground_truth"]
    _require(truth)
    channels, controls = channel_columns(data), control_columns(data)
    geos = [str(g) for g in pd.unique(data["geo"])]
    n_dates = len(data) // len(geos)
    shape = (n_dates, len(geos))
    media = _cube(truth["contributions"], [f"contribution_{c}" for c in channels], shape)
    base = _cube(truth["baseline"], list(BASELINE_TERMS), shape)
    nuisance = np.concatenate([np.ones_like(base[..., :1]), base[..., 1:],
                               _cube(data, controls, shape)], axis=2)
    observed = data["y"].to_numpy(float).reshape(shape) if y is None else np.asarray(y, float)
    if observed.shape != shape:
        raise invalid("y", f"shape {observed.shape}", f"shape (date, geo) = {shape}",
                      DatasetFormatError)
    true_coef = _true_nuisance(truth, geos, controls, base[:, 0, 0])
    sigma = np.array([float(truth["noise_scale"][g]) for g in geos])
    return _Panel(geos, channels, [*BASELINE_TERMS, *controls], observed.T.copy(),
                  media, _cube(data, channels, shape), nuisance, true_coef, sigma)


def _require(truth: dict[str, Any]) -> None:
    """Raise DatasetFormatError naming the truth parts the oracle needs and lacks."""
    missing = [k for k in ("contributions", "baseline", "noise_scale") if k not in truth]
    if not missing:
        missing = [f"baseline.{t}" for t in BASELINE_TERMS if t not in truth["baseline"]]
    if missing:
        raise DatasetFormatError(f"oracle: ground truth lacks {missing}; allowed: a generated "
                                 "dataset (or one saved and loaded with its truth)")


def _cube(frame: pd.DataFrame, columns: list[str], shape: tuple[int, int]) -> np.ndarray:
    """(geo, date, k) array of ``columns`` of a frame sorted by date, then geo."""
    values = frame[columns].to_numpy(dtype=float).reshape(*shape, len(columns))
    return values.transpose(1, 0, 2).copy()


def _true_nuisance(truth, geos, controls, intercept: np.ndarray) -> np.ndarray:
    """(geo, term) true coefficients: the geo's intercept level, 1 (trend), 1 (seasonality),
    the control coefficients (NaN when the truth does not carry them)."""
    coefficients = truth.get("control_coefficients", {})
    table = np.full((len(geos), len(BASELINE_TERMS) + len(controls)), np.nan)
    table[:, 0] = intercept
    table[:, 1:3] = 1.0
    for k, control in enumerate(controls):
        if control in coefficients:
            table[:, 3 + k] = [float(coefficients[control][g]) for g in geos]
    return table


def _nuisance_basis(nuisance: np.ndarray):
    """Orthonormal basis (geo, date, r) of each geo's nuisance span (dropped directions as
    zero columns), with the column norms, singular values and right vectors used to
    recover the coefficients."""
    scale = np.linalg.norm(nuisance, axis=1, keepdims=True)
    unit = np.divide(nuisance, scale, out=np.zeros_like(nuisance), where=scale > 0)
    u, values, rotation = np.linalg.svd(unit, full_matrices=False)
    keep = values > _RANK_TOL * values.max(axis=1, keepdims=True)
    return u * keep[:, None, :], scale[:, 0, :], np.where(keep, values, np.inf), rotation


def _residual(basis: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``a`` (geo, date, k) minus its projection on each geo's nuisance span."""
    return a - basis @ (basis.transpose(0, 2, 1) @ a)


def _weights(sigma: np.ndarray) -> tuple[np.ndarray, float]:
    """GLS weights 1/sigma_g^2 (per y unit squared) and the factor of the covariance.

    A noise-free dataset (all sigma 0) gets unit weights and covariance factor 0.
    """
    if np.all(sigma == 0):
        return np.ones_like(sigma), 0.0
    if not np.all(np.isfinite(sigma) & (sigma > 0)):
        raise invalid("ground_truth.noise_scale", sigma.tolist(),
                      "finite values, all > 0 (or all 0 for a noise-free dataset)",
                      DatasetFormatError)
    return 1.0 / sigma**2, 1.0


def _solve(info, score, raw, where: str, var_scale: float) -> _Solution:
    """Multipliers of the GLS normal equations ``info m = score`` (info (K, K), score (K,),
    after the nuisance is partialled out); ``raw`` (K,) the weighted squared norms of the
    contributions before that. A non-estimable multiplier is NaN with a note."""
    k = score.shape[0]
    estimate, variance, notes = np.full(k, np.nan), np.full(k, np.nan), [""] * k
    diag = np.diag(info).copy()
    for c in range(k):
        if raw[c] == 0:
            notes[c] = f"true contribution is zero in every week{where}: multiplier undefined"
        elif diag[c] <= _SPAN_TOL**2 * raw[c]:
            notes[c] = (f"true contribution{where} lies in the span of the baseline and "
                        "control regressors: not identifiable")
    live = np.flatnonzero([not note for note in notes])
    if live.size:
        d = np.sqrt(diag[live])
        w, v = np.linalg.eigh(info[np.ix_(live, live)] / np.outer(d, d))
        null = w <= _RANK_TOL * max(w.max(), 0.0)
        inverse = (v[:, ~null] / w[~null]) @ v[:, ~null].T
        estimate[live] = inverse @ (score[live] / d) / d
        variance[live] = np.diag(inverse) / d**2 * var_scale
        for c in live[(v[:, null] ** 2).sum(axis=1) > 1e-6]:
            estimate[c] = variance[c] = np.nan
            notes[c] = (f"true contribution{where} is collinear with other channels' "
                        "contributions: not identifiable")
    return _Solution(estimate, variance, notes)


def _nuisance_coefficients(basis, scale, values, rotation, target) -> np.ndarray:
    """(geo, term) least-squares coefficients of the nuisance regressors for ``target``
    (geo, date) = y minus the fitted media; NaN for an all-zero regressor."""
    projected = np.einsum("gtr,gt->gr", basis, target) / values
    unit_coef = np.einsum("grp,gr->gp", rotation, projected)
    return np.divide(unit_coef, scale, out=np.full(scale.shape, np.nan), where=scale > 0)


def _assemble(panel: _Panel, pooled: _Solution, by_geo: list[_Solution], nuisance,
              given_y: bool) -> xr.Dataset:
    """The oracle Dataset on (channel,), (geo, channel) and (geo, term)."""
    geo_m = np.stack([s.estimate for s in by_geo])
    geo_se = np.sqrt(np.stack([s.variance for s in by_geo]))
    contribution, spend = panel.media.sum(axis=1), panel.spend.sum(axis=1)
    ds = xr.Dataset(coords={"geo": panel.geos, "channel": panel.channels,
                            "term": panel.terms})
    _add_estimates(ds, "", ("channel",), pooled.estimate, np.sqrt(pooled.variance),
                   contribution.sum(0), spend.sum(0), pooled.notes)
    _add_estimates(ds, "_by_geo", ("geo", "channel"), geo_m, geo_se, contribution, spend,
                   np.array([s.notes for s in by_geo], dtype=object))
    ds["nuisance"] = (("geo", "term"), nuisance)
    ds["nuisance_true"] = (("geo", "term"), panel.nuisance_true)
    ds["noise_scale"] = ("geo", panel.sigma)
    ds.attrs.update(knows=KNOWS, estimates=ESTIMATES, n_obs=int(panel.y.size),
                    y_source="given y" if given_y else "data y",
                    weights="1/noise_scale^2 with the true noise_scale")
    return ds


def _add_estimates(ds, suffix, dims, m, se, contribution, spend, notes) -> None:
    """Multiplier, contribution and ROAS variables (see ``oracle_fit``) for one level."""
    with np.errstate(divide="ignore", invalid="ignore"):
        roas = np.where(spend > 0, contribution / spend, np.nan)
    variables = {
        "multiplier": m, "multiplier_se": se, "spend_total": spend,
        "contribution_total_true": contribution, "contribution_total_oracle": m * contribution,
        "contribution_total_se": se * contribution, "roas_true": roas,
        "roas_oracle": m * roas, "roas_se": se * roas, "roas_rel_se": se,
        "roas_abs_rel_error": np.abs(m - 1.0), "note": np.asarray(notes, dtype=object),
    }
    for name, values in variables.items():
        ds[_name(name, suffix)] = (dims, values)


def _name(name: str, suffix: str) -> str:
    """``multiplier`` -> ``multiplier_by_geo``; ``multiplier_se`` -> ``multiplier_by_geo_se``;
    ``roas_true`` -> ``roas_by_geo_true``, ``contribution_total_true`` ->
    ``contribution_total_by_geo_true``."""
    if not suffix:
        return name
    for stem in ("contribution_total", "spend_total", "multiplier", "roas"):
        if name.startswith(stem):
            return stem + suffix + name[len(stem):]
    return name + suffix


def identified(oracle: xr.Dataset, threshold: float = DEFAULT_THRESHOLD,
               by_geo: bool = False) -> xr.DataArray:
    """True where the oracle's ROAS relative SE is at most ``threshold`` (unitless).

    (channel,) for the pooled multipliers, (geo, channel) with ``by_geo``. A channel
    whose multiplier is not identifiable (NaN SE) is not identified. With a relative SE
    of 0.3 the 94 % interval of even the oracle spans about +-0.56 x the true ROAS.
    """
    if not (isinstance(threshold, int | float) and math.isfinite(threshold) and threshold > 0):
        raise invalid("threshold", threshold, "a finite number > 0")
    rel_se = oracle[_name("roas_rel_se", "_by_geo" if by_geo else "")]
    return (rel_se <= threshold).rename("identified")


def oracle_rows(oracle: xr.Dataset, threshold: float = DEFAULT_THRESHOLD) -> list[Row]:
    """Tidy rows of an oracle fit.

    Quantity ``oracle_roas`` per channel (geo ``"all"``: pooled multiplier) and per
    (channel, geo) (per-geo multipliers), stats ``true``, ``estimate``, ``se`` (y per
    currency), ``rel_se``, ``abs_rel_error`` (unitless) and ``identified`` (1.0/0.0,
    level = threshold); quantity ``oracle_multiplier``, stats ``estimate`` and ``se``
    (unitless), at the same levels; and overall rows (channel and geo ``"all"``):
    ``mean_abs_rel_error`` over channels with a finite error, and over identified channels
    only (``mean_abs_rel_error_identified``, level = threshold), ``n_identified`` (level =
    threshold) and ``n_channels``.
    """
    pooled, by_geo = _row_arrays(oracle, ""), _row_arrays(oracle, "_by_geo")
    rows = []
    for c, channel in enumerate(map(str, oracle["channel"].values)):
        rows += _cell_rows(pooled, (c,), channel, ALL, threshold)
        for g, geo in enumerate(map(str, oracle["geo"].values)):
            rows += _cell_rows(by_geo, (g, c), channel, geo, threshold)
    return rows + _overall_rows(oracle, threshold)


_ROW_STATS = (("oracle_roas", "true", "roas_true"), ("oracle_roas", "estimate", "roas_oracle"),
              ("oracle_roas", "se", "roas_se"), ("oracle_roas", "rel_se", "roas_rel_se"),
              ("oracle_roas", "abs_rel_error", "roas_abs_rel_error"),
              ("oracle_multiplier", "estimate", "multiplier"),
              ("oracle_multiplier", "se", "multiplier_se"))


def _row_arrays(oracle: xr.Dataset, suffix: str) -> dict[str, np.ndarray]:
    """The variables the rows read, as arrays ((channel,) or (geo, channel)), by stem."""
    names = [variable for _, _, variable in _ROW_STATS] + ["note"]
    return {name: oracle[_name(name, suffix)].transpose(..., "channel").values
            for name in names}


def _cell_rows(arrays, index, channel: str, geo: str, threshold: float) -> list[Row]:
    """The rows of one channel (pooled) or one (geo, channel) cell of ``arrays``."""
    note = str(arrays["note"][index])
    rel_se = float(arrays["roas_rel_se"][index])
    rows = [metric_row(quantity, stat, arrays[variable][index], channel=channel, geo=geo,
                       note=note) for quantity, stat, variable in _ROW_STATS]
    ok = math.isfinite(rel_se) and rel_se <= threshold
    rows.insert(5, metric_row("oracle_roas", "identified", float(ok), threshold,
                              channel=channel, geo=geo, note=note))
    return rows


def _overall_rows(oracle: xr.Dataset, threshold: float) -> list[Row]:
    """Mean ROAS |relative error| over all channels and over identified ones; counts."""
    error = oracle["roas_abs_rel_error"].values
    finite = np.isfinite(error)
    chosen = identified(oracle, threshold).values & finite
    n_left = int((~finite).sum())
    note_all = f"{n_left} channel(s) not identifiable, left out" if n_left else ""
    note_id = "" if chosen.any() else "no identified channel"
    mean_all = float(error[finite].mean()) if finite.any() else math.nan
    mean_id = float(error[chosen].mean()) if chosen.any() else math.nan
    return [
        metric_row("oracle_roas", "mean_abs_rel_error", mean_all, None, ALL, ALL,
                   note_all if finite.any() else "no identifiable channel"),
        metric_row("oracle_roas", "mean_abs_rel_error_identified", mean_id, threshold,
                   ALL, ALL, note_id),
        metric_row("oracle_roas", "n_identified", int(chosen.sum()), threshold, ALL, ALL),
        metric_row("oracle_roas", "n_channels", error.size, None, ALL, ALL),
    ]


def oracle_table(oracle: xr.Dataset, dataset: str, seed: int,
                 threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """One row per channel (pooled multipliers): dataset, seed, channel, roas_true,
    roas_oracle, roas_se (y per currency), roas_rel_se, roas_abs_rel_error, multiplier,
    multiplier_se (unitless), contribution_total_true, contribution_total_oracle (y units),
    identified (bool), threshold, note. For ``summary/oracle.csv``."""
    columns = ["roas_true", "roas_oracle", "roas_se", "roas_rel_se", "roas_abs_rel_error",
               "multiplier", "multiplier_se", "contribution_total_true",
               "contribution_total_oracle"]
    table = pd.DataFrame({name: oracle[name].values for name in columns})
    table.insert(0, "channel", [str(c) for c in oracle["channel"].values])
    table.insert(0, "seed", int(seed))
    table.insert(0, "dataset", str(dataset))
    table["identified"] = identified(oracle, threshold).values
    table["threshold"] = float(threshold)
    table["note"] = [str(n) for n in oracle["note"].values]
    return table


def noise_free_y(result: dict[str, Any]) -> np.ndarray:
    """(date, geo) expected outcome ``y - noise`` in y units (needs ``ground_truth.noise``)."""
    data, truth = result["data"], result["ground_truth"]
    if "noise" not in truth:
        raise DatasetFormatError("oracle: ground truth lacks ['noise']; allowed: a generated "
                                 "dataset (or one saved and loaded with its truth)")
    n_geos = data["geo"].nunique()
    y = data["y"].to_numpy(float) - truth["noise"]["noise"].to_numpy(float)
    return y.reshape(-1, n_geos)
