"""TensorRT releases as build variants (issue 11): one row per build (cu11/cu12/cu13) with its
own CUDA range, glibc, Python, cuDNN, compute capabilities and platforms; the rules judge the
build that is installed; the APIs TensorRT 10 and 11 removed are data that smoke reads."""

from __future__ import annotations

import copy
import types

import pytest
from test_rule_units import SYS, copy_of, healthy, lib, libs, trt_inst

from trtdoctor import knowledge
from trtdoctor.rules import run_rules
from trtdoctor.smoke.backends import TensorRTBackend


def _installed(snap: dict, cuda: str, version: str) -> dict:
    trt_inst(snap)["parts"] = {f"tensorrt-cu{cuda}{p}": version for p in ("", "-bindings", "-libs")}
    return snap


def _found(snap: dict, check_id: str):
    return [f for f in run_rules(snap).findings if f.id == check_id]


# --- the lookups ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "cuda", "ships"),
    [
        ("10.13.0.35", 11, True),  # the last tensorrt-cu11 on PyPI
        ("10.13.3.9", 11, False),  # 10.13.2 dropped CUDA 11.x
        ("10.13.2.6", 13, True),  # ... and added CUDA 13.0
        ("10.13.0.35", 13, False),
        ("10.16.1.11", 12, True),
        ("11.4.0.106", 12, True),  # every 11.x has CUDA 12 packages
        ("11.4.0.106", 11, False),
        ("10.3.0", 11, True),
    ],
)
def test_trt_variant_knows_which_release_ships_which_build(version, cuda, ships):
    got = knowledge.trt_variant(version, cuda)
    assert (got is not None) == ships
    if got:
        assert got["build"] == f"cu{cuda}" and knowledge.major_minor(got["cuda"][0])[0] == cuda


def test_glibc_floor_rises_to_2_28_with_10_8():
    assert knowledge.trt_variant("10.7.0", 12)["glibc"] == "2.17"
    assert knowledge.trt_variant("10.8.0.43", 12)["glibc"] == "2.28"
    assert knowledge.trt_variant("10.0.1", 11)["glibc"] == "2.17"


def test_cuda_13_1_from_10_15_and_13_4_from_11_3():
    assert knowledge.trt_variant("10.13.3.9", 13)["cuda"][1] < knowledge.trt_variant("10.15.1.29", 13)["cuda"][1]
    assert knowledge.trt_variant("11.1.0.106", 13)["cuda"][1] == "13.3"
    assert knowledge.trt_variant("11.3.0.99", 13)["cuda"][1] == "13.4"


def test_cudnn_optional_for_10_and_none_for_11():
    assert knowledge.trt_variant("10.3.0", 12)["cudnn"] == {"version": "8.9.7", "optional": True}
    assert knowledge.trt_variant("11.4.0.106", 13)["cudnn"] is None


def test_python_3_14_only_from_11_1():
    assert knowledge.trt_variant("11.0.0.114", 13)["python"][1] == "3.13"
    assert knowledge.trt_variant("11.1.0.106", 12)["python"][1] == "3.14"


def test_trt_release_still_answers_for_the_series_from_its_builds():
    """Callers that need no build (recipes) get the series summarised over what that release ships."""
    old, new = knowledge.trt_release("10.13.0.35"), knowledge.trt_release("10.13.3.9")
    assert "11.8" in old["cuda"] and "13.0" not in old["cuda"]
    assert "11.8" not in new["cuda"] and "13.0" in new["cuda"]
    assert new["series"] == "10.13" and new["min_cc"] == "7.5"
    assert knowledge.trt_release("8.6.1")["pip_front"] == "tensorrt"


# --- the rules judge the installed build ------------------------------------------------


def test_a_gpu_newer_than_the_cu11_build_warns_and_the_cu12_build_of_the_same_release_does_not():
    """CUDA 11.8 builds stop at Hopper (9.0); an RTX 5090 (12.0) is newer than tensorrt-cu11."""

    def on_blackwell(cuda: str) -> dict:
        snap = _installed(healthy(), cuda, "10.13.0.35")
        snap["gpus"]["devices"][0].update(name="NVIDIA GeForce RTX 5090", compute_capability="12.0")
        return snap

    got = _found(on_blackwell("11"), "tensorrt.gpu-unsupported")
    assert [f.severity for f in got] == ["warning"] and "cu11" in got[0].title
    assert _found(on_blackwell("12"), "tensorrt.gpu-unsupported") == []


def test_cuda_mismatch_offers_the_same_release_built_for_the_runtime_here():
    snap = _installed(healthy(), "12", "10.13.3.9")  # only libcudart.so.13 resolves in the healthy tree
    (f,) = _found(snap, "tensorrt.cuda-mismatch")
    assert "tensorrt-cu13==10.13.3.9" in " ".join(f.fix.commands)
    assert any("cu13: CUDA 13.0–13.0" in e for e in f.evidence)


def test_cuda_mismatch_says_when_the_release_has_no_build_for_that_cuda():
    snap = _installed(healthy(), "11", "10.13.0.35")
    (f,) = _found(snap, "tensorrt.cuda-mismatch")
    assert "has no CUDA 13 build" in f.fix.summary
    assert "10.13.0.35" not in " ".join(f.fix.commands)


def test_cuda_mismatch_near_miss_with_the_builds_own_runtime():
    snap = _installed(healthy(), "12", "10.13.3.9")
    libs(snap)["libcudart.so.12"] = lib("cudart", "cuda", f"{SYS}/libcudart.so.12", "12.9.79", [copy_of(f"{SYS}/libcudart.so.12", "12.9.79", "ld.so.conf")])
    assert _found(snap, "tensorrt.cuda-mismatch") == []


@pytest.mark.parametrize(("version", "fires"), [("10.3.0", False), ("10.8.0.43", True)])
def test_glibc_floor_is_the_installed_releases(version, fires):
    snap = _installed(healthy(), "12", version)
    snap["os"]["glibc"] = "2.27"
    got = _found(snap, "tensorrt.glibc-too-old")
    assert bool(got) == fires
    if got:
        assert got[0].severity == "error" and "2.28" in got[0].title


def test_an_unconfirmed_glibc_only_warns(monkeypatch):
    row = dict(knowledge.trt_variant("10.16.1.11", 13), unverified=["glibc"])
    monkeypatch.setattr(knowledge, "trt_variant", lambda version, cuda: row)
    snap = healthy()
    snap["os"]["glibc"] = "2.27"
    assert [f.severity for f in _found(snap, "tensorrt.glibc-too-old")] == ["warning"]


# --- removed APIs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("major", "name", "removed_in"),
    [
        (10, "Builder.build_engine", 10),
        (11, "Builder.build_engine", 10),  # still gone in a later major
        (8, "Builder.build_engine", None),
        (10, "BuilderFlag.FP16", None),
        (11, "BuilderFlag.FP16", 11),
        (11, "IInt8Calibrator", 11),
        (11, "IExecutionContext.execute_async_v3", None),
    ],
)
def test_removed_api_lookup(major, name, removed_in):
    row = knowledge.removed_api(major, name)
    assert (row and row["major"]) == removed_in
    if row:
        assert row["replacement"] and row["source"].startswith("https://")


def test_the_precision_probes_cutoff_agrees_with_the_removed_api_rows():
    assert knowledge.load("tensorrt")["builder_flags_removed_in"] == knowledge.removed_api(99, "BuilderFlag.FP16")["major"]


def _backend(version: str) -> TensorRTBackend:
    b = TensorRTBackend()
    b.trt = types.SimpleNamespace(__version__=version)
    return b


def test_smoke_takes_strong_typing_from_the_kb_rows(monkeypatch):
    assert _backend("11.4.0.106").strongly_typed and not _backend("10.16.1.11").strongly_typed
    data = copy.deepcopy(knowledge.load("tensorrt"))
    for row in data["removed_apis"]:
        if row["name"] == "BuilderFlag.FP16":
            row["major"] = 12
    real = knowledge.load
    monkeypatch.setattr(knowledge, "load", lambda name: data if name == "tensorrt" else real(name))
    assert not _backend("11.4.0.106").strongly_typed, "the backend follows the kb, not a major written in code"
    assert _backend("12.0.0").strongly_typed
