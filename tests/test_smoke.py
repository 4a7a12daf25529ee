"""`trtdoctor smoke` without a GPU: the reference model, validation, statistics, preflight,
precision refusal, and the TensorRT builder path against a small named fake."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, check_json, needs_cc, run_cli

from trtdoctor.findings import Finding
from trtdoctor.smoke.engine_compat import judge
from trtdoctor.smoke.model import reference_model, sample_inputs, to_float16
from trtdoctor.smoke.stats import summarize, warnings_for
from trtdoctor.smoke.validate import compare

ort = pytest.importorskip("onnxruntime")
FAKE = str(REPO / "tests" / "fake_tensorrt")


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_reference_model_is_deterministic_with_dynamic_batch():
    a, b = reference_model(), reference_model()
    assert a.SerializeToString() == b.SerializeToString()
    ops = {n.op_type for n in a.graph.node}
    assert {"Conv", "BatchNormalization", "Add", "Relu", "GlobalAveragePool", "Gemm"} <= ops
    s = session(a)
    for batch in (1, 5):
        y = s.run(None, {"input": sample_inputs(batch)})[0]
        assert y.shape == (batch, 10) and np.isfinite(y).all()
    # batch items are independent: row 0 is the same alone and in a batch
    x = sample_inputs(5)
    np.testing.assert_allclose(s.run(None, {"input": x[:1]})[0][0], s.run(None, {"input": x})[0][0], rtol=1e-5, atol=1e-5)


def test_fp16_copy_validates_within_fp16_tolerance_and_a_broken_one_fails():
    m = reference_model()
    x = sample_inputs(16)
    ref = session(m).run(None, {"input": x})[0]
    y16 = session(to_float16(m)).run(None, {"input": x.astype(np.float16)})[0]
    ok = compare(y16, ref, "fp16")
    assert ok["passed"] and ok["cosine"] > 0.999 and ok["top1_agreement"] == 1.0
    bad = compare(ref[::-1], ref, "fp16")
    assert not bad["passed"]
    assert not compare(ref + 0.5, ref, "fp32")["passed"]


def test_statistics_on_known_samples():
    s = summarize([float(i) for i in range(1, 101)])
    vals = np.arange(1, 101, dtype=float)
    assert s["min"] == 1 and s["max"] == 100 and s["mean"] == 50.5
    for q in (50, 90, 99):
        key = "median" if q == 50 else f"p{q}"
        assert s[key] == pytest.approx(np.percentile(vals, q))
    assert s["cv_percent"] == pytest.approx(100 * vals.std() / vals.mean())
    steady = summarize([2.0] * 10)
    assert steady["cv_percent"] == 0
    w = warnings_for(steady, steady, enqueue_ms=3.0, transfer_ms=5.0)
    assert any(x.startswith("enqueue-bound") and "--cuda-graph" in x for x in w)
    assert any(x.startswith("transfer-bound") and "--no-transfers" in x for x in w)
    assert any(x.startswith("unstable") for x in warnings_for(s, steady))
    assert warnings_for(steady, steady, 1.0, 1.0) == []
    # a CPU baseline has no GPU timing: its advice is not about GPU clocks
    assert [x.split("; ")[1] for x in warnings_for(None, s)] == ["close other work on this machine"]


@needs_cc
def test_preflight_stops_with_findings(tree, tmp_path):
    tree.base().cuda()
    tree.write("/proc/driver/README", "")
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(check_json(tree.root)))
    res = run_cli("smoke", "--from", str(saved), "--format", "json")
    assert res.returncode == 1, res.stderr
    r = json.loads(res.stdout)
    assert r["schema"] == "trtdoctor.smoke/1" and r["result"] == "FAIL"
    assert [f["id"] for f in r["preflight"]] == ["driver.missing"]
    assert "trtdoctor fix" in r["reason"]


@needs_cc
def test_fp16_refused_on_sm61(tree, tmp_path):
    tree.base().driver(version="535.104.05", gpu="Tesla P4").cuda("12.2.2", "12.2.140")
    tree.ldconfig()
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(check_json(tree.root)))
    res = run_cli("smoke", "--from", str(saved), "--precision", "fp16")
    assert res.returncode == 1
    assert "refused: FP16 on Tesla P4 (sm_61) runs far slower than FP32" in res.stdout
    fp32 = run_cli("smoke", "--from", str(saved), "--precision", "fp32", "--format", "json")
    assert "refused" not in json.loads(fp32.stdout).get("reason", "")


def run_fake(code: str, version: str, refuse: bool = False) -> dict:
    env = {**os.environ, "PYTHONPATH": FAKE + os.pathsep + str(REPO), "FAKE_TRT_VERSION": version}
    if refuse:
        env["FAKE_TRT_REFUSE"] = "1"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


BUILD = r"""
import json, sys, tempfile
from pathlib import Path
from trtdoctor.smoke.backends import TensorRTBackend, SmokeError
from trtdoctor.smoke.inputs import describe, resolve
from trtdoctor.smoke.model import reference_model
be = TensorRTBackend("tensorrt"); ok, why = be.available()
PROFILE = resolve(describe(reference_model())[0], 8)
out = {"available": ok, "version": why}
d = Path(tempfile.mkdtemp())
for prec in ("fp16", "int8"):
    try:
        b = be.build(reference_model(), prec, PROFILE, d)
        out[prec] = {"plan": json.loads(b["plan"]), "flags": b["flags"], "strongly_typed": b["strongly_typed"], "cache": (d / "timing.cache").read_bytes().decode()}
    except SmokeError as e:
        out[prec] = {"error": str(e)}
try:
    be.load(be.build(reference_model(), "fp16", PROFILE, None)["plan"])
    out["load"] = "ok"
except SmokeError as e:
    out["load"] = str(e)
print(json.dumps(out))
"""


def test_builder_path_on_fake_tensorrt_10_uses_flags():
    r = run_fake(BUILD, "10.13.3.9")
    assert r["available"] and r["version"] == "10.13.3.9"
    fp16 = r["fp16"]
    assert fp16["flags"] == ["FP16"] and fp16["strongly_typed"] is False
    assert fp16["plan"]["input_dtype"] == "float32"
    assert fp16["plan"]["profiles"] == [{"input": [[1, 3, 32, 32], [8, 3, 32, 32], [16, 3, 32, 32]]}]
    assert fp16["cache"] == "fake-timing-cache"
    assert r["int8"]["flags"] == ["INT8"]
    assert r["load"] == "ok"


def test_builder_path_on_fake_tensorrt_11_is_strongly_typed():
    r = run_fake(BUILD, "11.4.0.106")
    fp16 = r["fp16"]
    assert fp16["strongly_typed"] is True and fp16["flags"] == []
    assert fp16["plan"]["input_dtype"] == "float16"  # the graph carries the precision
    assert fp16["plan"]["network_flags"] == 2  # 1 << STRONGLY_TYPED
    assert "Q/DQ" in r["int8"]["error"]


def test_refused_deserialization_is_reported_as_such():
    r = run_fake(BUILD, "11.4.0.106", refuse=True)
    assert r["load"].startswith("tensorrt refused to load the engine it built: The engine cannot run on this GPU")


def test_engine_compatibility_from_sidecar(tmp_path):
    plan = tmp_path / "e.plan"
    plan.write_bytes(b"x")
    (tmp_path / "e.plan.json").write_text(json.dumps({"backend": "tensorrt", "tensorrt": "10.13.3.9", "compute_capability": "8.6", "gpu": "NVIDIA A10"}))
    snap = {"precision": {"tensorrt": "10.16.1.11"}, "gpus": {"devices": [{"compute_capability": "9.0"}]}}
    got = {f.id for f in judge(plan, snap)[1]}
    assert got == {"engine.tensorrt-version", "engine.gpu"}
    ok = {"precision": {"tensorrt": "10.13.3.9"}, "gpus": {"devices": [{"compute_capability": "8.6"}]}}
    assert [f.id for f in judge(plan, ok)[1]] == ["engine.compatible"]
    (tmp_path / "bare.plan").write_bytes(b"x")
    assert isinstance(judge(tmp_path / "bare.plan", ok)[1][0], Finding)
    assert judge(tmp_path / "bare.plan", ok)[1][0].id == "engine.no-sidecar"


def test_cuda_binding_is_cuda_python_first_then_pycuda(monkeypatch):
    """cuda-python when installed, pycuda when it is the one installed; neither: the install hint."""
    import importlib.util as iu

    from trtdoctor.smoke import cuda_run
    from trtdoctor.smoke.backends import SmokeError

    real = iu.find_spec
    chosen = []
    monkeypatch.setattr(cuda_run.CudaPython, "__init__", lambda self, device=0: chosen.append(("cuda-python", device)))
    monkeypatch.setattr(cuda_run.PyCuda, "__init__", lambda self, device=0: chosen.append(("pycuda", device)))
    monkeypatch.setattr(cuda_run.importlib.util, "find_spec", lambda m: object() if m in ("cuda", "pycuda") else real(m))
    cuda_run.binding_for("auto", 1)
    monkeypatch.setattr(cuda_run.importlib.util, "find_spec", lambda m: object() if m == "pycuda" else None)
    cuda_run.binding_for("auto", 0)
    assert chosen == [("cuda-python", 1), ("pycuda", 0)]
    monkeypatch.setattr(cuda_run.importlib.util, "find_spec", lambda m: None)
    with pytest.raises(SmokeError, match="pycuda is not installed"):
        cuda_run.binding_for("pycuda")
    monkeypatch.undo()
    monkeypatch.setattr(cuda_run.importlib.util, "find_spec", lambda m: None)
    monkeypatch.setitem(sys.modules, "cuda", None)  # cuda-python absent
    monkeypatch.setitem(sys.modules, "cuda.bindings", None)
    with pytest.raises(SmokeError, match=r"cuda-python is not installed .*pip install 'trtdoctor\[smoke\]'"):
        cuda_run.binding_for("auto")


@pytest.fixture
def rtx_bindings_only(tmp_path, monkeypatch):
    """A folder holding only `tensorrt_rtx_bindings`, as PyPI's bindings wheel installs it,
    put on sys.path by the test; the module is forgotten afterwards."""
    sys.modules.pop("tensorrt_rtx_bindings", None)
    (tmp_path / "tensorrt_rtx_bindings").mkdir()
    (tmp_path / "tensorrt_rtx_bindings" / "__init__.py").write_text("__version__ = '1.7.1.116'\n")
    yield lambda: monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("tensorrt_rtx_bindings", None)


def test_backend_imports_the_bindings_wheels_module_name(rtx_bindings_only):
    """PyPI's tensorrt-rtx-cu13-bindings installs `tensorrt_rtx_bindings` (seen on the H100); the
    package naming it `tensorrt_rtx` is a source package needing NVIDIA's index."""
    from trtdoctor.smoke.backends import TensorRTBackend

    rtx_bindings_only()
    be = TensorRTBackend("tensorrt_rtx")
    assert be.available() == (True, "1.7.1.116") and be.trt.__name__ == "tensorrt_rtx_bindings"
    ok, why = TensorRTBackend("tensorrt_nonesuch").available()
    assert not ok and "import tensorrt_nonesuch failed" in why and "import tensorrt_nonesuch_bindings failed" in why


def test_auto_backend_finds_tensorrt_rtx_by_its_bindings_module(rtx_bindings_only):
    from trtdoctor.smoke.runner import choose_backend

    assert choose_backend("auto", {}) == "tensorrt"  # nothing installed: the default, whose absence the smoke explains
    rtx_bindings_only()
    assert choose_backend("auto", {}) == "tensorrt-rtx"
