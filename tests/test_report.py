"""report.html: one self-contained page with every table, plot and failure given."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmm_param_recovery.benchmarking.report import html as report
from mmm_param_recovery.benchmarking.report import plots as viz
from mmm_param_recovery.benchmarking.report.figures import save_figure
from mmm_param_recovery.benchmarking.report.html_parts import format_cell
from mmm_param_recovery.errors import DatasetFormatError, StorageError

FITTERS = ["pymc:pymc", "pymc:nutpie", "meridian"]
STATUS = ["ok", "ok", "failed"]
REASON = [None, None, "ValueError: <bad> prior & scale"]
SETTINGS = {"chains": 2, "draws": 20, "tune": 20, "seeds": [1], "target_accept": 0.9,
            "versions": {"pymc": "5.28.5", "google-meridian": "2.1.0"},
            "machine": {"cpu_count": 2, "platform": "Linux"}}


def identity(**extra) -> pd.DataFrame:
    return pd.DataFrame({"dataset": "basic", "seed": 1, "fitter": FITTERS, "priors": "seed",
                         "library": "x", "sampler": "y", "run_key": ["k1", "k2", ""],
                         "status": STATUS,
                         "reason": REASON, **extra})


def summary_tables() -> dict[str, pd.DataFrame]:
    """Summary tables of three fits (the last failed), in the documented schemas."""
    per_geo = pd.concat([identity(geo=g) for g in ("geo_a", "all")], ignore_index=True)
    recovery = pd.concat([
        identity(quantity="roas", stat="rel_error", level=np.nan, channel="x1_tv", geo="all",
                 value=[0.1, -0.2, np.nan]),
        identity(quantity="roas", stat="mean_abs_rel_error", level=np.nan, channel="all",
                 geo="all", value=[0.15, 0.25, np.nan]),
    ], ignore_index=True)
    return {
        "run_status": identity(chains=2, draws=20, tune=20, target_accept=0.9),
        "runtime_comparison": identity(
            build_seconds=[4.0, 9.0, np.nan], sampling_seconds=[30.0, 6.0, np.nan],
            postprocess_seconds=[2.0, 2.5, np.nan], total_seconds=[36.5, 17.5, np.nan],
            peak_rss_gb=[1.25, 0.8, np.nan]),
        "ess_comparison": identity(ess_bulk_min=[360.0, 900.0, np.nan],
                                   ess_per_second=[12.0, 150.0, np.nan]),
        "performance_metrics": per_geo.assign(
            mu_r2=[0.5, 0.6, np.nan, 0.91, 0.93, np.nan],
            y_ppc_coverage_94=[0.9, 0.92, np.nan, 0.95, 0.93, np.nan]),
        "recovery_metrics": recovery,
    }


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("out")
    tables = summary_tables()
    runtime = tables["runtime_comparison"]
    combined = out / "summary" / "combined_plots"
    return [save_figure(viz.plot_runtime_ess(runtime, tables["ess_comparison"]),
                        combined / "runtime_ess.png"),
            save_figure(viz.plot_memory(runtime), combined / "memory.png")]


class PageParser(HTMLParser):
    """Collects table names, image sources, every attribute and the visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[str | None] = []
        self.images: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        attrs = dict(attrs)
        self.attributes += [(k, v or "") for k, v in attrs.items()]
        if tag == "table":
            self.tables.append(attrs.get("data-name"))
        if tag == "img":
            self.images.append(attrs["src"])

    def handle_data(self, data):
        self.text.append(data)


def build(tmp_path: Path, images: list[Path], tables=None) -> tuple[Path, PageParser]:
    tables = summary_tables() if tables is None else tables
    failures = tables["run_status"].query("status != 'ok'")
    path = report.build_report(tmp_path, SETTINGS, tables, images, failures)
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return path, parser


def test_report_holds_every_table_image_and_failure(images):
    output_dir = images[0].parents[2]
    path, page = build(output_dir, images)
    assert path == output_dir / "summary" / "report.html"
    assert not list(path.parent.glob("*.tmp")) and not list(path.parent.glob(".*.tmp"))
    assert set(summary_tables()) <= set(page.tables)
    assert {"headline", "failures"} <= set(page.tables)
    assert len(page.images) == len(images)
    for src, image in zip(page.images, images, strict=True):
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix):]) == image.read_bytes()
    text = "".join(page.text)
    assert "ValueError: <bad> prior & scale" in text
    assert "5.28.5" in text and "target_accept" in text
    assert "summary/combined_plots/memory.png" in text


def test_report_is_self_contained_and_escaped(tmp_path, images):
    tables = summary_tables()
    tables["run_status"].loc[0, "library"] = "<script>alert(1)</script>"
    path, page = build(tmp_path, images, tables)
    assert not page.tags & {"script", "link", "iframe", "object", "embed"}
    for name, value in page.attributes:
        if name in ("src", "href"):
            assert value.startswith(("data:", "#")), value
        assert "http://" not in value and "https://" not in value
    html = path.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html and "@import" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_page_answers_first_and_flags_failures_at_the_top(tmp_path, images):
    path, _ = build(tmp_path, images)
    html = path.read_text(encoding="utf-8")
    order = ["verdict", "channels", "calibration", "priors", "compute", "datasets", "fits",
             "tables", "failures", "warnings", "settings"]
    positions = [html.index(f'<section id="{anchor}"') for anchor in order]
    assert positions == sorted(positions)
    assert html.index('class="banner"') < html.index('<section id="channels"')
    assert 'href="#failures"' in html
    assert 'class="alert"' in html and 'class="status-failed"' in html


def test_report_without_failures_says_so(tmp_path, images):
    path = report.build_report(tmp_path, {"chains": 2}, {}, [], pd.DataFrame())
    html = path.read_text(encoding="utf-8")
    assert "No failed, timed-out or skipped fits." in html
    assert "name no library versions or machine" in html


def test_headline_picks_cells_without_computing():
    head, notes = report.headline_table(summary_tables())
    assert head["fitter"].tolist() == FITTERS
    assert head["status"].tolist() == STATUS
    row = head.iloc[1]
    assert row["total seconds"] == 17.5 and row["ESS/s"] == 150.0
    assert row["R² pooled"] == 0.93 and row["y coverage 94%"] == 0.93
    assert row["ROAS mean |rel. error|"] == 0.25 and row["peak memory GB"] == 0.8
    assert head.iloc[2][[c.label for c in report.HEADLINE]].isna().all()
    assert notes == []


def test_headline_names_what_it_cannot_fill():
    tables = summary_tables()
    tables["recovery_metrics"] = tables["recovery_metrics"].query("channel != 'all'")
    del tables["ess_comparison"]
    head, notes = report.headline_table(tables)
    assert head["ESS/s"].isna().all() and head["ROAS mean |rel. error|"].isna().all()
    assert any(n.startswith("ESS/s: no column ess_per_second") for n in notes)
    assert any("stat = mean_abs_rel_error" in n for n in notes)


def test_headline_rejects_ambiguous_rows():
    tables = summary_tables()
    tables["performance_metrics"] = tables["performance_metrics"].assign(geo="all")
    with pytest.raises(DatasetFormatError, match="R² pooled"):
        report.headline_table(tables)


def test_missing_image_raises(tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        report.build_report(tmp_path, {}, {}, [tmp_path / "nope.png"], pd.DataFrame())
    assert not (tmp_path / "summary" / "report.html").exists()


@pytest.mark.parametrize("value, text", [
    (None, "—"), (np.nan, "—"), (pd.NA, "—"), (3, "3"), (np.int64(7), "7"), (True, "True"),
    (0.0, "0"), (1234567.8, "1,234,568"), (36.5, "36.5"), (0.123456, "0.1235"),
    (0.00012345, "1.234e-04"), (float("inf"), "inf"), ("a<b", "a<b"),
    (pd.Timestamp("2022-01-03"), "2022-01-03"),
])
def test_format_cell(value, text):
    assert format_cell(value)[0] == text
