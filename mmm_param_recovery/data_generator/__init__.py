"""Synthetic geo-level MMM data with complete, exactly known ground truth.

Public API (stable): ``generate_mmm_dataset``, ``get_preset_config``,
``list_available_presets``, ``customize_preset``, ``validate_config``, the config
dataclasses, ``save_dataset`` / ``load_dataset`` / ``load_dataset_files`` and the
``plot_*`` helpers (imported lazily: matplotlib loads only when a plot is drawn).
"""

from .config import (
    ChannelConfig,
    ControlConfig,
    MMMDataConfig,
    RegionConfig,
    TransformConfig,
    validate_config,
)
from .core import channel_column_names, control_column_names, generate_mmm_dataset
from .io import load_dataset, load_dataset_files, save_dataset
from .presets import customize_preset, get_preset_config, list_available_presets

__all__ = [
    "ChannelConfig", "ControlConfig", "MMMDataConfig", "RegionConfig", "TransformConfig",
    "validate_config", "generate_mmm_dataset", "get_preset_config", "list_available_presets",
    "customize_preset", "save_dataset", "load_dataset", "load_dataset_files",
    "channel_column_names", "control_column_names",
    "plot_spend", "plot_contributions", "plot_decomposition", "plot_saturation_curves",
]

_PLOTS = ("plot_spend", "plot_contributions", "plot_decomposition", "plot_saturation_curves")


def __getattr__(name: str):
    if name in _PLOTS:
        from . import visualization

        return getattr(visualization, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
