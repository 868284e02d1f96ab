"""Environment variables of a fit's process (set before any import): thread bounds and
the JAX persistent compilation cache.

Shared by the adapters: BLAS/OpenMP pools, numba, TensorFlow and XLA. XLA has no thread
count flag (``intra_op_parallelism_threads`` is a TensorFlow session option, not an XLA
flag, so it is not put in ``XLA_FLAGS``); ``--xla_cpu_multi_thread_eigen=false`` makes a
device's Eigen kernels single-threaded, which is what a device with one core should get.
A hard cap needs CPU affinity, which the parent can set.

The JAX persistent compilation cache keeps XLA executables between processes. Measured on
the 2-core x86 test machine (Meridian, small_business, 2 x 500 x 500): a second process
hits it and its fit takes 33 s instead of 59 s with identical draws (same ESS, same
divergences). It lives in ``cache_root()/jax-<jax>-<jaxlib>`` (stamped by versions, safe to
delete); ``MMM_JAX_CACHE=0`` turns it off, e.g. on a CPU where JAX rejects cached entries.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from mmm_param_recovery.errors import FitSpecError

JAX_CACHE_VARIABLE = "JAX_COMPILATION_CACHE_DIR"
JAX_CACHE_SWITCH = "MMM_JAX_CACHE"
"""Set to ``0`` to run every fit without the JAX persistent compilation cache."""


def cache_root() -> Path:
    """The project's cache folder: ``$MMM_CACHE_DIR``, else ``$XDG_CACHE_HOME`` or
    ``~/.cache``, under ``mmm_param_recovery``."""
    if os.environ.get("MMM_CACHE_DIR"):
        return Path(os.environ["MMM_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mmm_param_recovery"


def jax_cache_environment() -> dict[str, str]:
    """The JAX persistent-cache variables (every entry cached, however small or fast to
    compile), or ``{}`` when ``MMM_JAX_CACHE=0``."""
    if os.environ.get(JAX_CACHE_SWITCH, "1") == "0":
        return {}
    stamp = "-".join(_version(name) for name in ("jax", "jaxlib"))
    return {JAX_CACHE_VARIABLE: str(cache_root() / f"jax-{stamp}"),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def jax_cache_state(env: dict[str, str]) -> str:
    """``off`` (no cache), ``cold`` (empty or absent folder) or ``warm`` (entries present,
    from any earlier fit: whether this fit's own programs are among them shows only in
    its time) for a fit launched with ``env``; recorded with the fit's timings."""
    folder = env.get(JAX_CACHE_VARIABLE)
    if not folder:
        return "off"
    path = Path(folder)
    return "warm" if path.is_dir() and any(path.iterdir()) else "cold"


def fit_environment(cores: int, devices: int, threads: int) -> dict[str, str]:
    """``thread_environment`` plus the JAX persistent cache (harmless where JAX is unused)."""
    return {**thread_environment(cores, devices, threads), **jax_cache_environment()}


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "none"


def thread_environment(cores: int, devices: int, threads: int) -> dict[str, str]:
    """Thread limits for a fit on ``cores`` cores.

    ``threads``: BLAS/OpenMP threads per sampling process or XLA device; ``devices``:
    XLA host devices (one per chain where chains run as devices). Set before import.
    """
    if cores < 1:
        raise FitSpecError(f"cores: {cores!r} is invalid; allowed: an integer >= 1")
    per = str(max(1, threads))
    eigen = "true" if threads > 1 else "false"
    return {
        "OMP_NUM_THREADS": per, "MKL_NUM_THREADS": per, "OPENBLAS_NUM_THREADS": per,
        "NUMEXPR_NUM_THREADS": per, "NUMBA_NUM_THREADS": str(cores),
        "TF_NUM_INTRAOP_THREADS": per, "TF_NUM_INTEROP_THREADS": "1",
        "XLA_FLAGS": (
            f"--xla_force_host_platform_device_count={devices} "
            f"--xla_cpu_multi_thread_eigen={eigen}"
        ),
        "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2",
    }
