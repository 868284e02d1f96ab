"""Malformed inputs through the CLI: each one's exit code and its one-line message.

    .venv/bin/python benchmarks/bench_malformed.py [--markdown]

Every case runs ``mmm_param_recovery.cli.main.main(argv)`` in this process (the exit
code and stderr are exactly those of ``run_benchmark.py``; in-process only to save the
interpreter start-ups) against a fresh ``--output-dir`` and checks the contract of bad
input: exit code 2, exactly one line on stderr, no traceback, nothing written (the output
folder does not exist afterwards). Data cases mutate a valid 20-week, 2-geo, 3-channel
dataset (multi_region) written as CSV or Parquet. Prints one row per case and a last
line counting the cases that broke the contract.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mmm_param_recovery.cli.main import main
from mmm_param_recovery.data_generator import customize_preset, generate_mmm_dataset

Frames = tuple[pd.DataFrame, pd.DataFrame]


def _base() -> Frames:
    config = customize_preset("multi_region", n_periods=20, seed=2, **{"regions.n_regions": 2})
    result = generate_mmm_dataset(config)
    return result["data"], result["ground_truth"]["contributions"]


def _both(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Frames], Frames]:
    return lambda frames: (change(frames[0].copy()), change(frames[1].copy()))


def _data(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Frames], Frames]:
    return lambda frames: (change(frames[0].copy()), frames[1])


def _truth(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Frames], Frames]:
    return lambda frames: (frames[0], change(frames[1].copy()))


def _redate(freq: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        old = sorted(frame["date"].unique())
        new = pd.date_range("2024-01-01", periods=len(old), freq=freq)
        return frame.assign(date=frame["date"].map(dict(zip(old, new, strict=True))))
    return change


def _mixed(frame: pd.DataFrame) -> pd.DataFrame:
    dates = sorted(frame["date"].unique())
    return frame.assign(date=frame["date"].replace(dates[-1], dates[-2] + pd.Timedelta(days=1)))


def _gap(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["date"] != sorted(frame["date"].unique())[5]].reset_index(drop=True)


def _geo_dates(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    last = frame["date"].max()
    frame.loc[(frame["geo"] == "geo_b") & (frame["date"] == last), "date"] = \
        last + pd.Timedelta(weeks=1)
    return frame.sort_values(["date", "geo"]).reset_index(drop=True)


def _set(column: str, row: int, value) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object if isinstance(value, str) else float)
        frame.loc[row, column] = value
        return frame
    return change


def _zero_geo(frame: pd.DataFrame) -> pd.DataFrame:
    for column in [c for c in frame if c.startswith("x")]:
        frame.loc[frame["geo"] == "geo_b", column] = 0.0
    return frame


def _rename_channel(old: str, new: str) -> Callable[[Frames], Frames]:
    return lambda f: (f[0].rename(columns={old: new}),
                      f[1].rename(columns={f"contribution_{old}": f"contribution_{new}"}))


# id -> (mutation of (data, truth), suffix, stem)
DATA_CASES: dict[str, tuple[Callable[[Frames], Frames], str, str]] = {
    "channel that never spends": (_data(lambda d: d.assign(x2_search=0.0)), "csv", "d"),
    "constant control": (_data(lambda d: d.assign(c1=1.0)), "csv", "d"),
    "geo with zero spend": (_data(_zero_geo), "csv", "d"),
    "y all zero": (_data(lambda d: d.assign(y=0.0)), "csv", "d"),
    "y constant": (_data(lambda d: d.assign(y=5.0)), "csv", "d"),
    "1-row files": (_both(lambda f: f.iloc[:1]), "csv", "d"),
    "2-row files": (_both(lambda f: f.iloc[:2]), "csv", "d"),
    "8 weeks only": (_both(lambda f: f.iloc[:16]), "csv", "d"),
    "geos observed on different dates": (_both(_geo_dates), "csv", "d"),
    "y stored as strings (Parquet)": (_data(lambda d: d.assign(y=d["y"].astype(str))),
                                      "parquet", "d"),
    "spend stored as strings (Parquet)": (
        _data(lambda d: d.assign(x1_tv=d["x1_tv"].astype(str))), "parquet", "d"),
    "control stored as strings (Parquet)": (
        _data(lambda d: d.assign(c1=d["c1"].astype(str))), "parquet", "d"),
    "mixed weekly/daily dates": (_both(_mixed), "csv", "d"),
    "monthly dates": (_both(_redate("MS")), "csv", "d"),
    "daily dates": (_both(_redate("D")), "csv", "d"),
    "a week missing in every geo": (_both(_gap), "csv", "d"),
    "y stored as bool (Parquet)": (_data(lambda d: d.assign(y=d["y"] > d["y"].median())),
                                   "parquet", "d"),
    "y stored as TRUE/FALSE (CSV)": (_data(lambda d: d.assign(y=d["y"] > d["y"].median())),
                                     "csv", "d"),
    "two channels with the same index": (_rename_channel("x2_search", "x1_search"), "csv", "d"),
    "x1_tv and x01_radio (same index)": (_rename_channel("x2_search", "x01_radio"), "csv", "d"),
    "y of magnitude 1e300": (_data(lambda d: d.assign(y=d["y"] * 1e295)), "csv", "d"),
    "spend of magnitude 1e16": (_data(lambda d: d.assign(x1_tv=d["x1_tv"] + 1e16)), "csv", "d"),
    "control of magnitude 1e20": (_data(lambda d: d.assign(c1=d["c1"] * 1e20)), "csv", "d"),
    "truth of magnitude 1e300": (_truth(lambda t: t.assign(
        contribution_x1_tv=t["contribution_x1_tv"] * 1e300)), "csv", "d"),
    "negative spend": (_data(_set("x3_social", 4, -1.0)), "csv", "d"),
    "NaN in y": (_data(_set("y", 3, np.nan)), "parquet", "d"),
    "inf in spend": (_data(_set("x1_tv", 2, np.inf)), "parquet", "d"),
    "text in y (CSV)": (_data(_set("y", 1, "about 3000")), "csv", "d"),
    "missing y column": (_data(lambda d: d.drop(columns="y")), "csv", "d"),
    "no channel column": (_data(lambda d: d.drop(columns=["x1_tv", "x2_search", "x3_social"])),
                          "csv", "d"),
    "unknown column": (_data(lambda d: d.assign(weather=1.0)), "csv", "d"),
    "channel name with an underscore": (_rename_channel("x1_tv", "x1_paid_search"), "csv", "d"),
    "channel name empty (x1_)": (_rename_channel("x1_tv", "x1_"), "csv", "d"),
    "duplicated (date, geo) rows": (_both(lambda f: pd.concat([f, f.iloc[[4]]])
                                          .sort_values(["date", "geo"])), "csv", "d"),
    "unsorted rows": (_both(lambda f: f.iloc[::-1]), "csv", "d"),
    "a geo missing a week": (_both(lambda f: f.drop(index=7)), "csv", "d"),
    "unparseable date": (_data(_set("date", 0, "someday")), "csv", "d"),
    "time-zone aware dates (Parquet)": (
        _both(lambda f: f.assign(date=f["date"].dt.tz_localize("UTC"))), "parquet", "d"),
    "date stored as integers (Parquet)": (
        _both(lambda f: f.assign(date=np.arange(len(f)) // 2)), "parquet", "d"),
    "missing geo values (Parquet)": (_data(lambda d: d.assign(
        geo=d["geo"].where(d.index != 3, None))), "parquet", "d"),
    "duplicated column y (CSV)": (_data(lambda d: pd.concat([d, d[["y"]]], axis=1)), "csv", "d"),
    "truth rows differ": (_truth(lambda t: t.iloc[:-2]), "csv", "d"),
    "truth missing a contribution": (_truth(lambda t: t.drop(columns="contribution_x2_search")),
                                     "csv", "d"),
    "truth NaN": (_truth(_set("contribution_x1_tv", 0, np.nan)), "parquet", "d"),
    "truth as strings (Parquet)": (_truth(lambda t: t.astype({"contribution_x1_tv": str})),
                                   "parquet", "d"),
    "file stem 'summary'": (lambda f: f, "csv", "summary"),
    "file stem with a space": (lambda f: f, "csv", "my data"),
    "file stem '.hidden'": (lambda f: f, "csv", ".hidden"),
}

RAW_FILES = {  # id -> (bytes of the data file, suffix)
    "empty CSV": (b"", "csv"),
    "binary junk as CSV": (b"\xff\xfe\x00\x81 not text", "csv"),
    "Parquet that is not Parquet": (b"PAR1 this is not parquet", "parquet"),
    "Excel suffix": (b"date,geo,y\n", "xlsx"),
}

FLAG_CASES: dict[str, tuple[str, ...]] = {
    "--chains 0": ("--chains", "0"),
    "--chains 65": ("--chains", "65"),
    "--chains two": ("--chains", "two"),
    "--draws 0": ("--draws", "0"),
    "--draws 100001": ("--draws", "100001"),
    "--tune 100000000": ("--tune", "100000000"),
    "--tune -1": ("--tune", "-1"),
    "--target-accept 0": ("--target-accept", "0"),
    "--target-accept 1.2": ("--target-accept", "1.2"),
    "--target-accept nan": ("--target-accept", "nan"),
    "--timeout 0": ("--timeout", "0"),
    "--timeout inf": ("--timeout", "inf"),
    "--timeout nan": ("--timeout", "nan"),
    "--timeout 1e12": ("--timeout", "1e12"),
    "--jobs 0": ("--jobs", "0"),
    "--jobs 1000": ("--jobs", "1000"),
    "--seed -1": ("--seed", "-1"),
    "--seed 2**32": ("--seed", str(2**32)),
    "--seeds 1 2**64": ("--seeds", "1", str(2**64)),
    "--seeds 1 2 1 (duplicate)": ("--seeds", "1", "2", "1"),
    "--datasets huge_business": ("--datasets", "huge_business"),
    "--datasets summary": ("--datasets", "summary"),
    "--libraries robyn": ("--libraries", "robyn"),
    "--samplers stan": ("--samplers", "stan"),
    "--output-dir ''": ("--output-dir", ""),
    "--output-dir under /proc": ("--output-dir", "/proc/mmm_results"),
    "--output-dir under /sys": ("--output-dir", "/sys/kernel/mmm"),
    "--output-dir under /dev": ("--output-dir", "/dev/shm_not/x"),
    "--output-dir with a 300-char name": ("--output-dir", "/tmp/" + "a" * 300),
    "--dataset-name without --dataset-file": ("--dataset-name", "shop"),
    "--truth-file without --dataset-file": ("--truth-file", "t.csv"),
    "--dataset-file missing": ("--dataset-file", "missing.csv", "--truth-file", "t.csv"),
    "--no-such-flag": ("--no-such-flag",),
}

NAME_CASES = {  # --dataset-name values (with a valid dataset)
    "--dataset-name summary": "summary",
    "--dataset-name a/b": "a/b",
    "--dataset-name basic (a preset)": "basic",
    "--dataset-name ''": "",
    "--dataset-name x.tmp-12": "x.tmp-12",
}


def _run(argv: list[str], output: Path) -> tuple[int, list[str]]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main([*argv, "--output-dir", str(output)] if "--output-dir" not in argv
                        else argv)
        except SystemExit as stop:  # argparse's own errors
            code = stop.code
    return code, err.getvalue().strip().splitlines()


def _write(folder: Path, frames: Frames, suffix: str, stem: str) -> list[str]:
    data_path, truth_path = folder / f"{stem}.{suffix}", folder / f"{stem}_truth.{suffix}"
    for frame, path in zip(frames, (data_path, truth_path), strict=True):
        if suffix == "parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)
    return ["--dataset-file", str(data_path), "--truth-file", str(truth_path)]


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # e.g. a name too long to exist
        return False


def main_cli(markdown: bool) -> int:
    base = _base()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        good = _write(root, base, "csv", "good")
        (root / "blocker").write_text("a file, not a folder")
        cases: list[tuple[str, list[str]]] = []
        for i, (name, (mutate, suffix, stem)) in enumerate(DATA_CASES.items()):
            folder = root / f"case{i}"
            folder.mkdir()
            cases.append((name, _write(folder, mutate(base), suffix, stem)))
        for i, (name, (content, suffix)) in enumerate(RAW_FILES.items()):
            path = root / f"raw{i}.{suffix}"
            path.write_bytes(content)
            cases.append((name, ["--dataset-file", str(path), "--truth-file", good[3]]))
        cases += [(name, list(args)) for name, args in FLAG_CASES.items()]
        cases += [("--output-dir is a file", ["--output-dir", str(root / "blocker")]),
                  ("--output-dir under a file", ["--output-dir", str(root / "blocker" / "x")])]
        cases += [(name, [*good, "--dataset-name", value]) for name, value in NAME_CASES.items()]
        for i, (name, argv) in enumerate(cases):
            output = root / f"out{i}"
            target = Path(argv[argv.index("--output-dir") + 1]) if "--output-dir" in argv \
                else output
            existed = _exists(target)
            code, lines = _run(argv, output)
            written = output.exists() or (_exists(target) and not existed)
            ok = code == 2 and len(lines) == 1 and "Traceback" not in "".join(lines) \
                and not written
            message = (lines[-1] if lines else "").replace(tmp, "<tmp>")
            rows.append((name, code, message, ok))
    broken = [row for row in rows if not row[3]]
    if markdown:
        print("| # | input | exit | one-line message |")
        print("|---|---|---|---|")
        for i, (name, code, message, ok) in enumerate(rows, 1):
            flag = "" if ok else " **(contract broken)**"
            print(f"| {i} | {name} | {code} | `{message.replace('|', '/')}`{flag} |")
    else:
        for i, (name, code, message, ok) in enumerate(rows, 1):
            print(f"{i:3d} {'ok ' if ok else 'BAD'} exit {code}  {name}: {message}")
    print(f"\n{len(rows)} malformed inputs; {len(broken)} broke the contract (exit 2, one "
          "line, no traceback, nothing written)")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main_cli("--markdown" in sys.argv[1:]))
