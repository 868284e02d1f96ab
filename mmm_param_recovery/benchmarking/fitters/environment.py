"""Environment variables that bound the threads a fit uses (set before any import).

Shared by the adapters: BLAS/OpenMP pools, numba, TensorFlow and XLA. XLA has no thread
count flag (``intra_op_parallelism_threads`` is a TensorFlow session option, not an XLA
flag, so it is not put in ``XLA_FLAGS``); ``--xla_cpu_multi_thread_eigen=false`` makes a
device's Eigen kernels single-threaded, which is what a device with one core should get.
A hard cap needs CPU affinity, which the parent can set.
"""

from __future__ import annotations

from mmm_param_recovery.errors import FitSpecError


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
