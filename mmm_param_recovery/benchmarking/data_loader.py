"""Datasets as the benchmark consumes them (the seed API of the original design)."""

from __future__ import annotations

import pandas as pd

from mmm_param_recovery.data_generator import generate_mmm_dataset, get_preset_config
from mmm_param_recovery.data_generator.validation import channel_columns, control_columns


def load_multiple_datasets(
    dataset_names: list[str], seed: int = 42
) -> list[tuple[pd.DataFrame, list[str], list[str], pd.DataFrame]]:
    """Generate each named preset with ``seed``.

    Returns one ``(data_df, channel_columns, control_columns, truth_df)`` per name, in
    order: ``data_df`` is the observed frame (date, geo, x*, c*, y) and ``truth_df`` the
    true weekly contributions (date, geo, contribution_x*), both in y/currency units.
    """
    datasets = []
    for name in dataset_names:
        result = generate_mmm_dataset(get_preset_config(name, seed=seed))
        data = result["data"]
        datasets.append(
            (data, channel_columns(data), control_columns(data),
             result["ground_truth"]["contributions"])
        )
    return datasets
