"""Seed API (original design): sample a built model in this process.

A thin module that hands on names from ``fitters.in_process``. The benchmark itself runs
every fit in a fresh process (``run.isolation.run_fit``); see there for why.
"""

from mmm_param_recovery.benchmarking.fitters.in_process import fit_meridian, fit_pymc

__all__ = ["fit_meridian", "fit_pymc"]
