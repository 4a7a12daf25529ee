"""Live checks that need a real NVIDIA GPU; they skip cleanly without one.

Run them on a GPU machine with: python3 -m pytest -m gpu -v
"""

import importlib.util
import json
import os
from pathlib import Path

import pytest
from conftest import run_cli

from trtdoctor.probes.live_gpu import run_nvml
from trtdoctor.smoke.engine_compat import deserialize


def _gpu_present() -> bool:
    res = run_nvml(dict(os.environ), timeout=20)
    return bool(res.data and res.data.get("devices"))


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not _gpu_present(), reason="no NVIDIA GPU visible to NVML")]


def live(*extra, env=None):
    e = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    e.update(env or {})
    res = run_cli("check", "--json", *extra, env=e, timeout=300)
    assert res.returncode in (0, 1), res.stderr
    return json.loads(res.stdout)


def test_live_check_sees_the_gpu_and_driver():
    rep = live()
    snap = rep["snapshot"]
    nvml = snap["nvml"]
    assert nvml["source"] == "nvml" and nvml["cuInit"] == 0 and nvml["cuda_device_count"] >= 1
    dev = snap["gpus"]["devices"][0]
    assert dev["compute_capability"]  # from NVML itself
    from trtdoctor import knowledge

    row = knowledge.cc_for_gpu(dev["name"])
    assert row is None or row["cc"] == dev["compute_capability"], "knowledge base disagrees with NVML"
    assert snap["driver"]["version"] == nvml["driver"]
    assert "gpus.hidden" not in [f["id"] for f in rep["findings"]]


def test_every_resolved_library_is_what_the_real_loader_maps():
    snap = live()["snapshot"]["libraries"]
    judged = {s: v for s, v in snap["libraries"].items() if v.get("resolved")}
    assert judged, "expected libcuda at least"
    disagree = {s: (v.get("resolved"), v.get("live")) for s, v in judged.items() if not v.get("live_agrees")}
    assert not disagree
    assert all(v["live"]["in_maps"] for v in judged.values())


def test_hidden_gpus_named_as_the_cause():
    rep = live(env={"CUDA_VISIBLE_DEVICES": ""})
    f = next(f for f in rep["findings"] if f["id"] == "gpus.hidden")
    assert "CUDA_VISIBLE_DEVICES=''" in f["title"]
    assert any("cuInit returned 100 CUDA_ERROR_NO_DEVICE" in e for e in f["evidence"])
    assert any("NVML sees" in e for e in f["evidence"])


@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt_lean") is None and importlib.util.find_spec("tensorrt_lean_bindings") is None,
    reason="no TensorRT lean runtime (pip install tensorrt-lean-cu13-bindings tensorrt-lean-cu13-libs)",
)
def test_real_lean_runtime_refuses_junk_with_its_own_message(tmp_path):
    junk = tmp_path / "junk.plan"
    junk.write_bytes(b"not a TensorRT plan " * 64)
    d = deserialize(junk, env=dict(os.environ), timeout=120, modules=("tensorrt_lean", "tensorrt_lean_bindings"))
    assert d.state == "refused", d
    assert any("deserializeCudaEngine" in m for m in d.log), d.log  # TensorRT's own words, verbatim
    rep = live("--engine", str(junk))
    e = rep["engine"]
    assert e["verdict"] == "not-loadable" and e["checked_by"].startswith("deserialized with tensorrt"), e
    assert any("deserializeCudaEngine" in r for r in e["reasons"]), e
    assert "engine.deserialize-failed" in [f["id"] for f in rep["findings"]]


FOREIGN = Path(__file__).parent / "fixtures" / "plans" / "rtx-1.7.1.116-sm90-reference-fp16.plan"


@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt_lean") is None and importlib.util.find_spec("tensorrt_lean_bindings") is None,
    reason="no TensorRT lean runtime (pip install tensorrt-lean-cu13-bindings tensorrt-lean-cu13-libs)",
)
def test_real_lean_runtime_refuses_a_real_foreign_plan():
    """A real plan TensorRT-RTX built (tests/fixtures/plans/README.md): the lean runtime's own
    refusal reaches the verdict, which is never 'loadable'."""
    d = deserialize(FOREIGN, env=dict(os.environ), timeout=120, modules=("tensorrt_lean", "tensorrt_lean_bindings"))
    assert d.state == "refused", d
    assert any("deserializeCudaEngine" in m for m in d.log), d.log
    print("lean runtime on the TensorRT-RTX plan:", d.log[-1][:300])
    # the check reads the plan's header: a TensorRT-RTX plan, offered to RTX runtimes only (none
    # here), on a GPU TensorRT-RTX refuses: never 'loadable', and it says why
    e = live("--engine", str(FOREIGN))["engine"]
    assert e["verdict"] != "loadable" and e["built_with"] == {"backend": "tensorrt-rtx", "tensorrt": "1.7.1", "from": "plan header"}, e
    assert any("TensorRT-RTX cannot run engines on this machine's GPU (sm_90)" in r for r in e["reasons"]), e
