"""benchmarks/seed_settings_table.py: the markdown table of a results folder's fits."""

import importlib.util
from pathlib import Path

import pandas as pd

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "seed_settings_table.py"
spec = importlib.util.spec_from_file_location("seed_settings_table", SCRIPT)
table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(table)

IDENTITY = {"dataset": "medium_business", "seed": 42, "priors": "seed"}


def write_summary(folder: Path) -> None:
    """An ok nutpie fit and a timed-out numpyro fit, as a run writes them."""
    summary = folder / "summary"
    summary.mkdir(parents=True)
    runs = pd.DataFrame([
        {**IDENTITY, "fitter": "pymc:nutpie", "run_key": "a", "status": "ok", "reason": "",
         "build_seconds": 40.58, "sampling_seconds": 1204.8, "postprocess_seconds": 16.4,
         "total_seconds": 1281.8, "waiting_seconds": 809.7, "peak_rss_gb": 3.078,
         "jax_cache": "warm"},
        {**IDENTITY, "fitter": "pymc:numpyro", "run_key": "b", "status": "timeout",
         "reason": "exceeded the timeout of 1200 s during phase 'sampling'"},
    ])
    runs.to_csv(summary / "runtime_comparison.csv", index=False)
    runs[["run_key"]].assign(chains=4, tune=1000, draws=1000).to_csv(
        summary / "run_status.csv", index=False)
    pd.DataFrame([{"run_key": "a", "canonical_ess_bulk_min": 383.2, "canonical_rhat_max": 1.0741,
                   "sampler_n_divergences": 146.0}, {"run_key": "b"}]).to_csv(
        summary / "diagnostics_summary.csv", index=False)
    pd.DataFrame([{"run_key": "a", "roas_error_identified": 0.5064,
                   "oracle_error_identified": 0.155, "roas_in_hdi94": 0.625},
                  {"run_key": "b"}]).to_csv(summary / "verdict_fits.csv", index=False)


def test_table_has_a_column_per_fit_and_the_reason_of_a_failed_one(tmp_path):
    write_summary(tmp_path)
    text = table.markdown(table.load(tmp_path, "medium_business"))
    lines = text.splitlines()
    assert lines[0] == ("| | medium_business s42 pymc:numpyro | medium_business s42 pymc:nutpie |")
    assert "| sampling s | - | 1204.8 |" in lines
    assert "| peak RSS GiB | - | 3.08 |" in lines
    assert "| max R-hat | - | 1.074 |" in lines
    assert "| ROAS error, identified channels | - | 0.506 |" in lines
    assert "| 94 % ROAS coverage | - | 0.625 |" in lines
    assert "| chains x tune x draws | 4 x 1000 x 1000 | 4 x 1000 x 1000 |" in lines
    assert "- pymc:numpyro: exceeded the timeout of 1200 s during phase 'sampling'" in lines


def test_dataset_filter_that_matches_nothing_is_empty(tmp_path):
    write_summary(tmp_path)
    assert table.load(tmp_path, "large_business").empty
