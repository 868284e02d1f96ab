"""Input checks shared by the metric modules: variables, coordinates, non-finite values.

Metrics never align, trim or reorder their inputs: two arrays are comparable only when
every dimension they share carries identical coordinate values in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from mmm_param_recovery.errors import CoordinateMismatchError, DatasetFormatError

SAMPLE_DIMS = ("chain", "draw")


def posterior_dataset(posterior: az.InferenceData | xr.Dataset) -> xr.Dataset:
    """Return the ``posterior`` group of an InferenceData, or the Dataset itself."""
    if isinstance(posterior, az.InferenceData):
        if "posterior" not in posterior.groups():
            raise DatasetFormatError("posterior: InferenceData has no 'posterior' group")
        return posterior.posterior
    if isinstance(posterior, xr.Dataset):
        return posterior
    raise DatasetFormatError(
        f"posterior: {type(posterior).__name__} is invalid; allowed: az.InferenceData or xr.Dataset"
    )


def require_variables(ds: xr.Dataset, names: Iterable[str], where: str) -> None:
    """Raise ``DatasetFormatError`` naming every variable of ``names`` missing from ``ds``."""
    missing = [name for name in names if name not in ds.data_vars]
    if missing:
        raise DatasetFormatError(
            f"{where}: missing variable(s) {missing}; present: {sorted(map(str, ds.data_vars))}"
        )


def require_sample_dims(da: xr.DataArray, name: str) -> None:
    """Raise unless ``da`` has the sample dims ``(chain, draw)``."""
    missing = [dim for dim in SAMPLE_DIMS if dim not in da.dims]
    if missing:
        raise CoordinateMismatchError(
            f"posterior {name}: dims {list(da.dims)} lack {missing}; required: chain, draw"
        )


def check_same_coords(posterior: xr.DataArray, truth: xr.DataArray, name: str) -> None:
    """Check that ``posterior`` (chain, draw, *dims) and ``truth`` (*dims) share coordinates.

    The non-sample dims must be the same set, and each must carry the same coordinate
    values in the same order (and dtype kind: string dates never equal datetime64 dates).
    Raises ``CoordinateMismatchError`` naming the variable, the dim and the difference.
    """
    require_sample_dims(posterior, name)
    post_dims = {d for d in posterior.dims if d not in SAMPLE_DIMS}
    if post_dims != set(truth.dims):
        raise CoordinateMismatchError(
            f"{name}: posterior dims {sorted(post_dims)} != truth dims {sorted(truth.dims)}"
        )
    for dim in truth.dims:
        check_dim_equal(posterior, truth, dim, name)


def check_dim_equal(a: xr.DataArray, b: xr.DataArray, dim: str, name: str) -> None:
    """Raise ``CoordinateMismatchError`` unless ``a`` and ``b`` have identical ``dim`` coords."""
    left, right = _coord_values(a, dim), _coord_values(b, dim)
    if _kind(left) != _kind(right):
        raise CoordinateMismatchError(
            f"{name}.{dim}: coordinate dtypes differ (posterior {left.dtype}, truth "
            f"{right.dtype}); convert them to the same type"
        )
    if np.array_equal(left, right):
        return
    missing = pd.Index(right).difference(pd.Index(left)).tolist()
    extra = pd.Index(left).difference(pd.Index(right)).tolist()
    detail = (
        f"missing in posterior: {missing[:5]}; not in truth: {extra[:5]}"
        if missing or extra
        else "same values in a different order"
    )
    raise CoordinateMismatchError(
        f"{name}.{dim}: posterior and truth coordinates differ "
        f"({left.size} vs {right.size} values); {detail}"
    )


def _coord_values(da: xr.DataArray, dim: str) -> np.ndarray:
    if dim in da.coords:
        return np.asarray(da[dim].values)
    return np.arange(da.sizes[dim])


def _kind(values: np.ndarray) -> str:
    """dtype family: every string storage (``U``, ``S``, ``O``) counts as text."""
    return "text" if values.dtype.kind in "USO" else values.dtype.kind


def count_nonfinite(da: xr.DataArray) -> int:
    """Number of NaN or +-inf values in ``da``."""
    return int(da.size - np.count_nonzero(np.isfinite(da.values)))
