"""Staging folders, locks and the clean-up after a killed writer, for run folders.

A fit is written into ``<run>.tmp-<pid>`` (``runs.staging_dir``) and renamed into place by
``runs.commit_run``; writers of one run key hold ``run_lock``. At the start of a run,
``remove_stale_staging`` removes what killed writers left (temporary files, staging
folders, free locks), kills a fit child a SIGKILLed parent left running, and promotes a
complete staging folder whose rename was interrupted.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import psutil

from mmm_param_recovery.benchmarking.store.atomic import (
    LOCKS,
    file_lock,
    remove_free_locks,
    remove_stale_temporaries,
)
from mmm_param_recovery.benchmarking.store.runs import FIT_PROCESS, load_run
from mmm_param_recovery.errors import StorageError

logger = logging.getLogger(__name__)


def remove_stale_staging(output_dir: str | Path, dataset_names) -> list[Path]:
    """At the start of a run: remove every temporary file and staging folder that a
    killed writer left in the dataset folders (runs, datasets, plots, metrics) and in
    ``summary/``, and the lock files nobody holds. A stale run staging folder that holds
    a complete, verified run whose final folder is absent (a kill between writing the
    manifest and the rename) is renamed into place instead; a fit process session it
    records that is still alive (its parent was SIGKILLed) is killed first."""
    output_dir = Path(output_dir)
    roots = [output_dir / "summary", *(output_dir / name for name in dataset_names)]
    removed = remove_stale_temporaries(roots, on_stale_folder=_settle_stale_run)
    return removed + remove_free_locks(output_dir / LOCKS)  # the summary lock's folder


def _settle_stale_run(folder: Path) -> bool:
    """``remove_stale_temporaries`` hook: kill the folder's orphaned fit; promote it when
    it is a complete run with no final folder. True when the folder was promoted."""
    _kill_recorded_fit(folder)
    final = folder.with_name(folder.name.rsplit(".tmp-", 1)[0])
    if folder.name.startswith(".") or final.exists():
        return False
    try:
        load_run(folder)
    except StorageError:
        return False
    os.replace(folder, final)
    logger.warning("%s: promoted a complete run left under a staging name", final)
    return True


def _kill_recorded_fit(folder: Path) -> None:
    """SIGKILL the session of the fit child recorded in ``folder/FIT_PROCESS`` (its
    grandchildren may outlive a parent killed by SIGKILL); only processes of that session
    started no earlier than the child are touched."""
    try:
        record = json.loads((folder / FIT_PROCESS).read_text())
        session, started = int(record["pid"]), float(record["create_time"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    for process in psutil.process_iter(["pid", "create_time"]):
        try:
            if (os.getsid(process.pid) == session
                    and process.info["create_time"] >= started - 1.0):
                process.kill()
                logger.warning("killed orphaned fit process %d of %s", process.pid, folder)
        except (OSError, psutil.Error):
            continue


def run_lock(output_dir: str | Path, dataset_name: str, key: str, **options):
    """The lock (``store.atomic.file_lock``) that every writer of run ``key`` holds: the
    fit, its commit and the metrics of a stored run. Two runs on one output folder thus
    never fit the same spec at once; the second waits and then finds the run complete."""
    return file_lock(Path(output_dir) / dataset_name / LOCKS / f"{key}.lock", **options)


def run_dir_lock(path: str | Path, key: str, **options):
    """``run_lock`` of the run folder ``path`` (``<output>/<dataset>/<stem>__<key8>``)."""
    return file_lock(Path(path).parent / LOCKS / f"{key}.lock", **options)
