"""Regional variation: per-geo multipliers of baseline, spend and effectiveness."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import MMMDataConfig
from .utils import lognormal_multipliers, stream_rng

CHANNEL_JITTER_FRACTION = 1 / 3
PEOPLE_PER_UNIT = 100_000
"""People per unit of the population multiplier: the ``population`` column holds
``PEOPLE_PER_UNIT x multiplier``, rounded to whole people (the multiplier is then read
back from the rounded count, so the column and the data agree exactly)."""


@dataclass(frozen=True)
class RegionalVariation:
    """Multipliers with mean about 1 (all exactly 1 for a single geo).

    ``baseline``: (geo,); ``spend``: (geo, channel); ``effectiveness``: (geo, channel);
    ``population``: (geo,), people / PEOPLE_PER_UNIT, or None without populations.
    """

    geos: tuple[str, ...]
    baseline: np.ndarray
    spend: np.ndarray
    effectiveness: np.ndarray
    population: np.ndarray | None = None


def generate_regional_variations(config: MMMDataConfig) -> RegionalVariation:
    """Draw each geo's baseline, spend and effectiveness levels from the regions stream."""
    regions = config.regions
    n_geos, n_channels = regions.n_regions, len(config.channels)
    population = _population(config)
    if n_geos == 1:
        ones = np.ones((1, n_channels))
        return RegionalVariation(regions.names, np.ones(1), ones, ones.copy(), population)
    rng = stream_rng(config.seed, "regions")
    baseline = lognormal_multipliers(rng, regions.baseline_variation, n_geos)
    geo_spend = lognormal_multipliers(rng, regions.spend_variation, (n_geos, 1))
    jitter_sd = regions.spend_variation * CHANNEL_JITTER_FRACTION
    spend = geo_spend * lognormal_multipliers(rng, jitter_sd, (n_geos, n_channels))
    effectiveness = lognormal_multipliers(
        rng, regions.effectiveness_variation, (n_geos, n_channels)
    )
    return RegionalVariation(regions.names, baseline, spend, effectiveness, population)


def _population(config: MMMDataConfig) -> np.ndarray | None:
    """Each geo's population multiplier (people / PEOPLE_PER_UNIT), from its own stream so
    that the other draws do not change; None when ``population_variation`` is 0."""
    regions = config.regions
    if regions.population_variation == 0:
        return None
    rng = stream_rng(config.seed, "population")
    multipliers = lognormal_multipliers(rng, regions.population_variation, regions.n_regions)
    return np.round(multipliers * PEOPLE_PER_UNIT) / PEOPLE_PER_UNIT
