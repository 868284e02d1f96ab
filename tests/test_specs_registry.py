"""Fit specs, run keys and the fitter registry: validation, identity, eligibility."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from mmm_param_recovery.benchmarking.fitters import registry
from mmm_param_recovery.benchmarking.fitters.base import SamplingSettings
from mmm_param_recovery.benchmarking.fitters.model_spec import PROFILES
from mmm_param_recovery.benchmarking.fitters.registry import GIB, get_fitter, list_fitters
from mmm_param_recovery.benchmarking.run.specs import (
    DatasetRef,
    FitSpec,
    make_fit_spec,
    run_key,
    spec_from_dict,
    spec_to_dict,
)
from mmm_param_recovery.data_generator import generate_mmm_dataset, get_preset_config, save_dataset
from mmm_param_recovery.errors import FitSpecError

FITTERS = ("pymc:pymc", "pymc:nutpie", "pymc:numpyro", "pymc:blackjax", "meridian")
VERSIONS = {"pymc-marketing": "0.19.2", "pymc": "5.28.5"}
LARGE = dict(n_dates=208, n_geos=50, n_channels=30)
MACHINE_24_GIB = 24 * GIB


SMALL = None
"""Folder of a generated small_business dataset (set once by the autouse fixture)."""


@pytest.fixture(scope="module", autouse=True)
def small_business(tmp_path_factory):
    global SMALL
    result = generate_mmm_dataset(get_preset_config("small_business", seed=1))
    SMALL = save_dataset(result, tmp_path_factory.mktemp("data") / "small")
    return SMALL


def _dataset(**overrides) -> DatasetRef:
    fields = dict(name="small_business", seed=1, config_hash="ab12", path=SMALL,
                  n_dates=104, n_geos=1, n_channels=4)
    return DatasetRef(**{**fields, **overrides})


def _spec(fitter: str = "pymc:nutpie", **overrides) -> FitSpec:
    settings = dict(chains=2, draws=50, tune=40, target_accept=0.9, seed=3)
    return make_fit_spec(fitter, _dataset(), **{**settings, **overrides})


def test_registry_lists_the_five_fitters():
    assert list_fitters() == FITTERS
    assert [get_fitter(name).folder_stem for name in FITTERS] == [
        "pymc_pymc", "pymc_nutpie", "pymc_numpyro", "pymc_blackjax", "meridian"]


@pytest.mark.parametrize("name", FITTERS)
def test_every_registered_adapter_loads_without_importing_its_library(name):
    code = (
        "import sys\n"
        "from mmm_param_recovery.benchmarking.fitters.registry import get_fitter\n"
        f"adapter = get_fitter({name!r}).load_adapter()\n"
        "methods = ('environment', 'versions', 'model_spec', 'build', 'from_model',\n"
        "           'sample', 'postprocess', 'prior_roas', 'fitted_idata', 'fitted_frame')\n"
        "assert all(callable(getattr(adapter, m)) for m in methods)\n"
        "from mmm_param_recovery.benchmarking.run.specs import dataset_ref\n"
        f"prepared = dataset_ref('small_business', {str(SMALL)!r}).prepared()\n"
        "for profile in adapter.profiles:\n"
        f"    assert get_fitter({name!r}).model_spec(prepared, profile)['priors']\n"
        "heavy = ('pymc', 'pymc_marketing', 'meridian', 'jax', 'tensorflow', 'nutpie')\n"
        "print(adapter.library, sorted(set(heavy) & set(sys.modules)))\n"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.split(maxsplit=1) == [get_fitter(name).library, "[]\n"]


@pytest.mark.parametrize(
    ("fitter", "overrides", "field_name"),
    [
        ("pymc:hmc", {}, "fitter"),
        ("stan", {}, "fitter"),
        ("pymc:nutpie", {"chains": 0}, "chains"),
        ("pymc:nutpie", {"draws": 0}, "draws"),
        ("pymc:nutpie", {"tune": -1}, "tune"),
        ("pymc:nutpie", {"chains": 2.5}, "chains"),
        ("pymc:nutpie", {"target_accept": 1.0}, "target_accept"),
        ("pymc:nutpie", {"target_accept": 0.0}, "target_accept"),
        ("pymc:nutpie", {"seed": -1}, "seed"),
        ("pymc:nutpie", {"cores": 0}, "cores"),
        ("pymc:nutpie", {"timeout_seconds": 0}, "timeout_seconds"),
        ("pymc:nutpie", {"options": {"nutpie_backend": "cuda"}}, "nutpie_backend"),
        ("pymc:pymc", {"options": {"nutpie_backend": "jax"}}, "settings.options"),
        ("pymc:nutpie", {"profile": "fancy"}, "priors"),
        ("meridian", {"profile": "seeds"}, "priors"),
    ],
)
def test_bad_spec_raises_fitspecerror_naming_field_and_allowed(fitter, overrides, field_name):
    with pytest.raises(FitSpecError, match="allowed") as info:
        _spec(fitter, **overrides)
    assert field_name in str(info.value)


def test_unknown_fitter_message_lists_the_allowed_names():
    with pytest.raises(FitSpecError) as info:
        get_fitter("pymc:hmc")
    assert all(name in str(info.value) for name in FITTERS)


def test_settings_sampler_must_be_the_fitters_sampler():
    settings = SamplingSettings(2, 50, 40, 0.9, 3, sampler="numpyro")
    with pytest.raises(FitSpecError, match="settings.sampler: 'numpyro'.*'nutpie'"):
        FitSpec("pymc:nutpie", settings, _dataset(), cores=2)
    with pytest.raises(FitSpecError, match="settings.sampler"):
        FitSpec("meridian", settings, _dataset(), cores=2)


@pytest.mark.parametrize(
    ("overrides", "field_name"),
    [({"name": "a/b"}, "dataset.name"), ({"config_hash": "XYZ"}, "dataset.config_hash"),
     ({"seed": -2}, "dataset.seed"), ({"n_geos": 0}, "dataset.n_geos")],
)
def test_bad_dataset_ref_raises(overrides, field_name):
    with pytest.raises(FitSpecError, match=field_name):
        _dataset(**overrides)


def test_spec_dict_round_trip_is_json_ready():
    spec = _spec(options={"nutpie_backend": "jax"}, timeout_seconds=60)
    data = json.loads(json.dumps(spec_to_dict(spec)))
    assert spec_from_dict(data) == spec


def test_run_key_is_the_same_in_a_fresh_process_with_another_hash_seed():
    spec = _spec(options={"nutpie_backend": "jax"})
    code = (
        "import json, sys\n"
        "from mmm_param_recovery.benchmarking.run.specs import run_key, spec_from_dict\n"
        "spec, versions = json.loads(sys.stdin.read())\n"
        "print(run_key(spec_from_dict(spec), versions))\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps([spec_to_dict(spec), VERSIONS]),
        capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert child.stdout.strip() == run_key(spec, VERSIONS)
    assert len(run_key(spec, VERSIONS)) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"fitter": "pymc:pymc"},
        {"chains": 3},
        {"draws": 51},
        {"tune": 41},
        {"target_accept": 0.95},
        {"seed": 4},
        {"options": {"nutpie_backend": "jax"}},
        {"profile": "library"},
        {"profile": "matched"},
    ],
)
def test_run_key_changes_with_every_spec_field(change):
    assert run_key(_spec(**change), VERSIONS) != run_key(_spec(), VERSIONS)


def _leaves(node, path=()):
    """Every (path, value) leaf of a JSON-ready tree (lists indexed, dicts by key)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list) and node:
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, index))
    else:
        yield path, node


def _perturbed(tree, path):
    tree = json.loads(json.dumps(tree))
    node = tree
    for step in path[:-1]:
        node = node[step]
    value = node[path[-1]]
    node[path[-1]] = (not value if isinstance(value, bool) else value + 1
                      if isinstance(value, int | float) else f"{value}x")
    return tree


@pytest.mark.parametrize("fitter", ["pymc:nutpie", "meridian"])
@pytest.mark.parametrize("profile", PROFILES)
def test_run_key_changes_with_every_model_spec_field(fitter, profile):
    base = _spec(fitter, profile=profile)
    leaves = list(_leaves(base.model_dict))
    assert len(leaves) > 20 and base.model_dict["profile"] == profile
    keys = {run_key(base, VERSIONS)}
    for path, _ in leaves:
        changed = dataclasses.replace(base, model=json.dumps(_perturbed(base.model_dict, path)))
        keys.add(run_key(changed, VERSIONS))
    assert len(keys) == len(leaves) + 1


@pytest.mark.parametrize("fitter", ["pymc:pymc", "pymc:nutpie", "pymc:numpyro", "pymc:blackjax"])
def test_saturation_option_reaches_the_model_spec_and_the_run_key(fitter):
    default, hill = _spec(fitter), _spec(fitter, options={"saturation": "hill"})
    assert default.model_dict["saturation"] == "hill_sigmoid"
    assert hill.model_dict["saturation"] == "hill" and "saturation_kappa" in hill.model_dict[
        "priors"]
    assert run_key(default, VERSIONS) != run_key(hill, VERSIONS)
    with pytest.raises(FitSpecError, match="settings.options.saturation: 'tanh' is invalid"):
        _spec(fitter, options={"saturation": "tanh"})
    with pytest.raises(FitSpecError, match="settings.options \\(of meridian\\)"):
        _spec("meridian", options={"saturation": "hill"})


def test_knots_option_reaches_meridians_spec_and_the_run_key():
    default, one = _spec("meridian"), _spec("meridian", options={"knots": "1"})
    assert default.model_dict["knots"] > 1 and one.model_dict["knots"] == 1
    assert run_key(default, VERSIONS) != run_key(one, VERSIONS)
    with pytest.raises(FitSpecError, match="settings.options.knots: '5' is invalid"):
        _spec("meridian", options={"knots": "5"})


def test_model_spec_is_written_whole_into_the_spec_dict():
    spec = _spec("meridian", profile="seed")
    priors = spec_to_dict(spec)["model"]["priors"]
    assert priors["beta_m"]["dist"] == "LogNormal" and len(priors["beta_m"]["params"]["scale"]) == 4
    assert spec_to_dict(spec)["model"]["media_prior_type"] == "coefficient"
    assert spec_to_dict(_spec("meridian", profile="library"))["model"]["media_prior_type"] == "roi"


@pytest.mark.parametrize(
    "change",
    [{"name": "other"}, {"seed": 2}, {"config_hash": "ab13"}, {"n_dates": 105},
     {"n_geos": 2}, {"n_channels": 5}],
)
def test_run_key_changes_with_every_dataset_field_but_the_path(change):
    base = _spec()
    changed = dataclasses.replace(base, dataset=dataclasses.replace(base.dataset, **change))
    assert run_key(changed, VERSIONS) != run_key(base, VERSIONS)


def test_run_key_changes_with_versions_but_not_with_run_control():
    base = _spec()
    assert run_key(base, {**VERSIONS, "pymc": "5.28.6"}) != run_key(base, VERSIONS)
    assert run_key(base, {**VERSIONS, "numba": "0.61"}) != run_key(base, VERSIONS)
    moved = dataclasses.replace(base, dataset=dataclasses.replace(base.dataset, path="/x"))
    patient = dataclasses.replace(base, timeout_seconds=10.0)
    fewer_cores = dataclasses.replace(base, cores=1)
    keys = {run_key(spec, VERSIONS) for spec in (base, moved, patient, fewer_cores)}
    assert len(keys) == 1


@pytest.mark.parametrize("name", FITTERS)
def test_every_fitter_may_fit_small_business_at_full_settings(name):
    cells = _dataset().cells
    assert get_fitter(name).ineligibility(4, 1000, cells, MACHINE_24_GIB) is None


@pytest.mark.parametrize(
    ("name", "eligible"),
    [("pymc:pymc", True), ("pymc:nutpie", False), ("meridian", False),
     ("pymc:numpyro", False), ("pymc:blackjax", False)],
)
def test_large_business_at_4_x_1000_draws_is_ruled_out_on_24_gib(name, eligible):
    """Nutpie and Meridian since their models were calibrated on medium_business; pymc
    keeps its uncalibrated estimate."""
    cells = _dataset(**LARGE).cells
    reason = get_fitter(name).ineligibility(4, 1000, cells, MACHINE_24_GIB)
    assert (reason is None) == eligible
    if not eligible:
        assert name in reason and "GiB" in reason and "exceeds" in reason


def test_fewer_draws_make_large_business_fit_in_memory():
    cells = _dataset(**LARGE).cells
    assert get_fitter("pymc:numpyro").ineligibility(2, 200, cells, MACHINE_24_GIB) is None


def test_options_are_data_on_the_registry_entry():
    assert get_fitter("pymc:nutpie").options["nutpie_backend"] == ("numba", "jax")
    assert dict(get_fitter("pymc:pymc").options) == {"saturation": ("hill_sigmoid", "hill")}
    assert dict(get_fitter("meridian").options) == {"knots": ("auto", "1")}
    with pytest.raises(TypeError):
        get_fitter("pymc:nutpie").options["x"] = ("y",)  # type: ignore[index]


def test_fitters_for_library_and_sampler():
    assert [e.name for e in registry.fitters_for("pymc")] == list(FITTERS[:4])
    assert [e.name for e in registry.fitters_for("meridian")] == ["meridian"]
    with pytest.raises(FitSpecError, match="allowed"):
        registry.fitters_for("pymc", "hmc")


def test_thread_environment_holds_only_real_xla_flags():
    from mmm_param_recovery.benchmarking.fitters.environment import thread_environment

    one_core_per_chain = thread_environment(2, devices=2, threads=1)
    assert one_core_per_chain["XLA_FLAGS"].split() == [
        "--xla_force_host_platform_device_count=2", "--xla_cpu_multi_thread_eigen=false"]
    meridian = thread_environment(2, devices=1, threads=2)
    assert "--xla_cpu_multi_thread_eigen=true" in meridian["XLA_FLAGS"].split()
    assert meridian["TF_NUM_INTRAOP_THREADS"] == "2" and meridian["OMP_NUM_THREADS"] == "2"
    assert all(flag.startswith("--") for flag in meridian["XLA_FLAGS"].split())


def test_jax_cache_folder_is_ours_stamped_and_can_be_switched_off(monkeypatch, tmp_path):
    from importlib.metadata import version

    from mmm_param_recovery.benchmarking.fitters import environment as env

    monkeypatch.setenv("MMM_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("MMM_JAX_CACHE", raising=False)
    cache = env.fit_environment(2, devices=1, threads=2)
    folder = tmp_path / f"jax-{version('jax')}-{version('jaxlib')}"
    assert cache["JAX_COMPILATION_CACHE_DIR"] == str(folder)
    assert env.jax_cache_state(cache) == "cold"
    folder.mkdir()
    assert env.jax_cache_state(cache) == "cold"
    (folder / "entry").write_bytes(b"x")
    assert env.jax_cache_state(cache) == "warm"
    monkeypatch.setenv("MMM_JAX_CACHE", "0")
    off = env.fit_environment(2, devices=1, threads=2)
    assert "JAX_COMPILATION_CACHE_DIR" not in off
    assert env.jax_cache_state(off) == "off"
    assert off["XLA_FLAGS"] == cache["XLA_FLAGS"]
