"""Seed management: every random draw comes from a named, independent stream of the seed.

Streams are ``SeedSequence(seed, spawn_key=(stream, *index))``: adding a stream or a
channel never changes the draws of the others, and no global random state is touched.
"""

from __future__ import annotations

import numpy as np

STREAMS = {"regions": 0, "channels": 1, "controls": 2, "noise": 3, "preset": 4, "population": 5}


def stream_rng(seed: int, stream: str, *index: int) -> np.random.Generator:
    """An independent generator for ``stream`` (and e.g. a channel index) of ``seed``."""
    key = (STREAMS[stream], *index)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def lognormal_multipliers(rng: np.random.Generator, sd: float, size) -> np.ndarray:
    """Log-normal multipliers with mean 1 and log-scale sd ``sd`` (all ones when sd=0)."""
    return np.exp(rng.normal(-0.5 * sd**2, sd, size=size))
