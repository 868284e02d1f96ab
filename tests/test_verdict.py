"""The verdict, per-channel recovery and run-to-run comparison, from summary tables."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from mmm_param_recovery.benchmarking.report import html as report
from mmm_param_recovery.benchmarking.report.channels import (
    channel_recovery_display,
    channel_recovery_table,
)
from mmm_param_recovery.benchmarking.report.compare import compare_runs, read_verdict_fits
from mmm_param_recovery.benchmarking.report.verdict import (
    convergence_mark,
    verdict_fits,
    verdict_sentences,
    verdict_table,
)
from mmm_param_recovery.cli.arguments import request_from_args
from mmm_param_recovery.cli.main import build_parser
from mmm_param_recovery.errors import DatasetFormatError

CHANNELS = ("x1_tv", "x2_radio")


def key(fitter: str, seed: int) -> str:
    return hashlib.sha256(f"{fitter}{seed}".encode()).hexdigest()


def tables_for(errors: dict[str, list[float]], rhat: dict[str, list[float]] | None = None,
               excluded: tuple[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """Summary tables of fits of one dataset: ``errors[fitter][i]`` is the ROAS relative
    error of every channel at seed i + 1 (so the identified and all-channel means equal it);
    ``rhat`` the fits' largest R-hat; ``excluded`` (fitter, channel) a prior flag."""
    status, recovery, oracle, diagnostics, prior = [], [], [], [], []
    for fitter, values in errors.items():
        for i, error in enumerate(values):
            seed, run_key = i + 1, key(fitter, i + 1)
            ident = {"dataset": "basic", "seed": seed, "fitter": fitter, "priors": "seed",
                     "run_key": run_key}
            status.append({**ident, "status": "ok", "reason": None, "chains": 2})
            diagnostics.append({**ident, "canonical_rhat_max": (rhat or {}).get(
                fitter, [1.0] * len(values))[i], "sampler_n_divergences": 0,
                "canonical_ess_bulk_min": 800.0})
            for channel in CHANNELS:
                flag = 1.0 if excluded == (fitter, channel) else 0.0
                where = {**ident, "quantity": "roas", "channel": channel, "geo": "all",
                         "identified": True, "prior_excludes_truth": flag}
                recovery += [{**where, "stat": "rel_error", "level": np.nan, "value": error},
                             {**where, "stat": "in_hdi", "level": 0.94, "value": 1.0},
                             {**where, "stat": "posterior_mean", "level": np.nan,
                              "value": 1.0 + error},
                             {**where, "stat": "true", "level": np.nan, "value": 1.0},
                             {**where, "stat": "hdi_low", "level": 0.94, "value": 0.5},
                             {**where, "stat": "hdi_high", "level": 0.94, "value": 2.0}]
                prior.append({**ident, "channel": channel, "prior_excludes_truth": flag,
                              "prior_q05": 0.1})
    for seed in range(1, 1 + max(map(len, errors.values()))):
        for channel in CHANNELS:
            oracle.append({"dataset": "basic", "seed": seed, "channel": channel,
                           "roas_abs_rel_error": 0.1, "identified": True, "roas_oracle": 1.1,
                           "roas_se": 0.2})
    recovery = pd.DataFrame(recovery)
    oracle = pd.DataFrame(oracle)
    versus = (recovery[recovery["stat"] == "rel_error"].groupby("run_key")["value"]
              .apply(lambda v: v.abs().mean()).rename("roas_error_all").reset_index())
    versus = versus.assign(roas_error_identified=versus["roas_error_all"],
                           oracle_error_all=0.1, oracle_error_identified=0.1,
                           n_identified=2, n_channels=2)
    versus = versus.assign(minus_oracle_all=versus["roas_error_all"] - 0.1,
                           minus_oracle_identified=versus["roas_error_identified"] - 0.1)
    return {"run_status": pd.DataFrame(status), "recovery_metrics": recovery,
            "diagnostics_summary": pd.DataFrame(diagnostics), "oracle": oracle,
            "recovery_vs_oracle": versus, "prior_checks": pd.DataFrame(prior)}


def verdict_of(tables):
    fits = verdict_fits(tables)
    verdict = verdict_table(fits)
    return fits, verdict, verdict_sentences(fits, verdict)


def test_convergence_marks_each_failed_check():
    assert convergence_mark(1.005, 0, 900, 2) == "ok"
    assert convergence_mark(1.05, 3, 150, 2) == "R-hat 1.050 > 1.01; 3 divergences; ESS 150 < 200"
    assert convergence_mark(np.nan, np.nan, np.nan, 2) == "unknown"


def test_a_non_converged_fitter_carries_its_mark_in_table_sentences_and_page(tmp_path):
    tables = tables_for({"a": [0.1, 0.2, 0.15, 0.12, 0.18], "b": [0.5, 0.6, 0.55, 0.7, 0.65]},
                        rhat={"b": [1.0, 1.08, 1.0, 1.2, 1.0]})
    fits, verdict, sentences = verdict_of(tables)
    row = verdict.set_index("fitter").loc["b"]
    assert row["convergence"] == "2 of 5 fits: R-hat > 1.01 (max 1.200) in 2"
    assert verdict.set_index("fitter").loc["a", "convergence"] == "ok"
    [about_b] = [s for s in sentences if " b (" in s]
    assert "b (not converged in 2 of 5 fits)" in about_b and "beyond noise" in about_b
    tables.update(verdict=verdict, verdict_fits=fits)
    path = report.build_report(tmp_path, {}, tables, [], pd.DataFrame(), verdict_text=sentences)
    html = path.read_text()
    verdict_html = html[html.index('<section id="verdict"'):html.index('<section id="channels"')]
    assert "2 of 5 fits: R-hat &gt; 1.01 (max 1.200) in 2" in verdict_html
    assert "b (not converged" in verdict_html


def test_means_carry_mcse_and_close_fitters_are_called_indistinguishable():
    errors = {"a": [0.30, 0.10, 0.25, 0.15, 0.20], "b": [0.32, 0.08, 0.27, 0.14, 0.22]}
    fits, verdict, sentences = verdict_of(tables_for(errors))
    a = verdict.set_index("fitter").loc["a"]
    assert a["roas_error_identified"] == pytest.approx(0.2)
    assert a["roas_error_identified_mcse"] == pytest.approx(np.std(errors["a"], ddof=1) / 5**0.5)
    assert a["roas_in_hdi94"] == 1.0 and a["roas_in_hdi94_n"] == 10
    assert a["minus_oracle_identified"] == pytest.approx(0.1)
    assert a["minus_oracle_identified_mcse"] == pytest.approx(a["roas_error_identified_mcse"])
    assert any("over the identified channels (2 of 2 per seed): a 0.2 ±" in s
               for s in sentences)
    assert any("b is indistinguishable from it" in s for s in sentences)
    assert not any("rankings need several seeds" in s for s in sentences)


def test_one_seed_says_rankings_need_several():
    _, verdict, sentences = verdict_of(tables_for({"a": [0.1], "b": [0.4]}))
    assert sentences[0].startswith("One seed: rankings need several seeds")
    assert any("b is higher by 0.3 on 1 seed(s), with no SE: not ranked" in s for s in sentences)
    assert verdict["roas_error_identified_mcse"].isna().all()


def test_a_prior_flag_reaches_verdict_and_sentences():
    _, verdict, sentences = verdict_of(tables_for({"a": [0.1, 0.2], "b": [0.3, 0.5]},
                                                  excluded=("b", "x2_radio")))
    assert verdict.set_index("fitter").loc["b", "prior_flags"] == "x2_radio (2 of 2 fits)"
    assert any("the prior of b excludes the true ROAS of x2_radio (2 of 2 fits)" in s
               for s in sentences)


def test_no_full_run_key_appears_outside_title_attributes(tmp_path):
    tables = tables_for({"a": [0.1, 0.2], "b": [0.3, 0.5]})
    fits, verdict, sentences = verdict_of(tables)
    tables.update(verdict=verdict, verdict_fits=fits,
                  channel_recovery=channel_recovery_table(tables))
    html = report.build_report(tmp_path, {}, tables, [], pd.DataFrame(),
                               verdict_text=sentences).read_text()

    class Visible(HTMLParser):
        text, titles = [], []

        def handle_starttag(self, tag, attrs):
            self.titles += [v for k, v in attrs if k == "title"]
            self.text += [v for k, v in attrs if k != "title" and v]

        def handle_data(self, data):
            self.text.append(data)

    page = Visible()
    page.feed(html)
    keys = {key(f, s) for f in "ab" for s in (1, 2)}
    assert keys <= set(page.titles)
    assert not re.search(r"[0-9a-f]{64}", " ".join(page.text))
    assert {k[:8] for k in keys} <= set(" ".join(page.text).split())


def test_channel_recovery_puts_truth_oracle_and_fits_side_by_side():
    table = channel_recovery_table(tables_for({"a": [0.1], "b": [0.5]}, excluded=("b", "x1_tv")))
    assert len(table) == 4 and table["oracle_roas"].eq(1.1).all()
    shown = channel_recovery_display(table, "basic")
    assert list(shown.columns) == ["seed", "channel", "true ROAS", "oracle ± SE", "identified",
                                   "a [seed]", "b [seed]"]
    tv = shown.set_index("channel").loc["x1_tv"]
    assert tv["b [seed]"] == "1.5 [0.5, 2] prior!" and tv["oracle ± SE"] == "1.1 ± 0.2"


def test_compare_runs_reports_paired_changes_beyond_noise():
    before = verdict_fits(tables_for({"a": [0.50, 0.40, 0.45, 0.55], "b": [0.2, 0.3, 0.25, 0.2]}))
    after = verdict_fits(tables_for({"a": [0.20, 0.11, 0.14, 0.26], "b": [0.21, 0.28, 0.26, 0.2]}))
    table = compare_runs(after, before).set_index(["fitter", "metric"])
    a = table.loc[("a", "roas_error_identified")]
    assert a["change"] == pytest.approx(-0.2975) and a["n_seeds"] == 4
    assert a["beyond_noise"] == "yes"
    assert table.loc[("b", "roas_error_identified"), "beyond_noise"] == "no"
    single = compare_runs(after[after["seed"] == 1], before)
    assert set(single["beyond_noise"]) == {"no SE (one seed)"}


def test_compare_to_needs_an_earlier_run(tmp_path):
    with pytest.raises(DatasetFormatError, match="verdict_fits.csv does not exist"):
        read_verdict_fits(tmp_path)
    args = build_parser().parse_args(["--compare-to", str(tmp_path / "nope"),
                                      "--output-dir", str(tmp_path / "out")])
    with pytest.raises(ValueError, match="--compare-to: .*nope' is invalid; allowed: the output"):
        request_from_args(args, default_jobs=1)


def test_marginal_and_curve_errors_reach_the_verdict_with_mcse():
    tables = tables_for({"pymc:nutpie": [0.2, 0.4, 0.6], "meridian": [0.1, 0.1, 0.1]})
    pooled = []
    for _, fit in tables["run_status"].iterrows():
        where = {k: fit[k] for k in ("dataset", "seed", "fitter", "priors", "run_key")}
        where.update(channel="all", geo="all", level=np.nan)
        pooled += [{**where, "quantity": "marginal_roas", "stat": "mean_abs_rel_error",
                    "value": 0.1 * fit["seed"]},
                   {**where, "quantity": "response_curve", "stat": "integrated_rel_error",
                    "value": 0.5}]
    tables["recovery_metrics"] = pd.concat([tables["recovery_metrics"], pd.DataFrame(pooled)],
                                           ignore_index=True)
    fits = verdict_fits(tables)
    assert sorted(fits["marginal_roas_error_all"]) == pytest.approx([0.1, 0.1, 0.2, 0.2,
                                                                     0.3, 0.3])
    row = verdict_table(fits).set_index("fitter").loc["meridian"]
    assert row["marginal_roas_error_all"] == pytest.approx(0.2)
    assert row["marginal_roas_error_all_mcse"] == pytest.approx(0.1 / np.sqrt(3))
    assert row["curve_error_all"] == pytest.approx(0.5)


def test_fits_without_curves_have_no_marginal_error():
    fits = verdict_fits(tables_for({"meridian": [0.1, 0.2]}))
    assert fits["marginal_roas_error_all"].isna().all()
    assert fits["curve_error_all"].isna().all()
