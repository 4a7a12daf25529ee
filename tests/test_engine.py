"""`trtdoctor check --engine FILE`: the verdict (loadable / not-loadable / unknown) from the
sidecar and from TensorRT itself, deserializing in a child against the named fakes in
tests/fake_tensorrt (and tests/fake_tensorrt_lean)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
from conftest import REPO, check_json, run_cli

from trtdoctor.smoke.engine_compat import RUNTIMES, deserialize, judge

FAKE = str(REPO / "tests" / "fake_tensorrt")
FAKE_LEAN = str(REPO / "tests" / "fake_tensorrt_lean")
JUNK_MESSAGE = "IRuntime::deserializeCudaEngine: Error Code 1: Serialization (Serialization assertion plan.header.size == blobSize failed.)"
A10 = {"backend": "tensorrt", "tensorrt": "10.13.3.9", "compute_capability": "8.6", "gpu": "NVIDIA A10", "precision": "fp16"}


def snap(trt: str | None = "10.13.3.9", ccs: tuple = ("8.6",), rtx: str | None = None) -> dict:
    parts = {}
    if trt:
        parts["tensorrt-cu13"] = trt
    if rtx:
        parts["tensorrt-rtx"] = rtx
    return {
        "tensorrt": {"installs": [{"site_packages": "/venv/site-packages", "parts": parts}] if parts else []},
        "precision": {"tensorrt": trt},
        "gpus": {"devices": [{"index": i, "name": f"GPU{i}", "compute_capability": c} for i, c in enumerate(ccs)]},
    }


def engine(tmp_path: Path, sidecar=None, data: bytes = b"junk", name: str = "e.plan") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    if sidecar is not None:
        (tmp_path / (name + ".json")).write_text(sidecar if isinstance(sidecar, str) else json.dumps(sidecar))
    return p


def fake_plan() -> bytes:
    return json.dumps({"fake": True, "version": "10.13.3.9"}).encode()  # as the fake's builder writes


def env_with(*paths: str, **extra: str) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_TRT")}
    e["PYTHONPATH"] = os.pathsep.join(paths)
    e.update(extra)
    return e


def absent(tmp_path: Path, *names: str) -> str:
    """A folder that makes ``names`` fail to import as if not installed, whatever site-packages holds."""
    d = tmp_path / "absent"
    for n in names or RUNTIMES:
        (d / n).mkdir(parents=True, exist_ok=True)
        (d / n / "__init__.py").write_text(f"raise ModuleNotFoundError({'No module named ' + repr(n)!r}, name={n!r})\n")
    return str(d)


def ids(findings) -> dict:
    return {f.id: f.severity for f in findings}


# -- the sidecar alone (static: nothing is deserialized) ------------------------------------


def test_missing_engine_is_an_error_and_an_existing_one_is_not(tmp_path):
    v, fs = judge(tmp_path / "nope.plan", snap())
    assert ids(fs) == {"engine.missing": "error"} and v["verdict"] == "not-loadable"
    assert "does not exist" in v["reasons"][0]
    _, fs = judge(engine(tmp_path, A10), snap())
    assert "engine.missing" not in ids(fs)


def test_matching_sidecar_is_compatible_by_the_sidecar(tmp_path):
    v, fs = judge(engine(tmp_path, A10), snap(), not_live="static check")
    assert ids(fs) == {"engine.compatible": "info"}
    assert v["verdict"] == "loadable" and v["checked_by"] == "sidecar" and v["built_with"]["gpu"] == "NVIDIA A10"
    assert "static check" in v["reasons"]  # it says it was not deserialized


@pytest.mark.parametrize(
    "here, word",
    [
        (snap(trt=None), "no TensorRT runtime is installed here, so the engine's TensorRT version cannot be checked"),
        (snap(ccs=()), "no GPU was found, so the compute capability cannot be checked"),
        (snap(ccs=(None,)), "compute capability is unknown here"),
        ({k: v for k, v in snap().items() if k != "gpus"}, "the GPUs were not probed"),
    ],
)
def test_never_compatible_on_what_cannot_be_told(tmp_path, here, word):
    v, fs = judge(engine(tmp_path, A10), here)
    assert v["verdict"] == "unknown" and ids(fs) == {"engine.unknown": "warning"}
    assert any(word in r for r in v["reasons"]), v["reasons"]


def test_no_tensorrt_and_no_gpu_says_both(tmp_path):
    v, _ = judge(engine(tmp_path, A10), snap(trt=None, ccs=()))
    assert v["reasons"][:2] == [
        "no TensorRT runtime is installed here, so the engine's TensorRT version cannot be checked",
        "no GPU was found, so the compute capability cannot be checked",
    ]


def test_sidecar_that_names_nothing_is_unknown(tmp_path):
    v, fs = judge(engine(tmp_path, {}), snap())
    assert v["verdict"] == "unknown" and "engine.bad-sidecar" not in ids(fs)
    assert any("does not say which TensorRT version" in r for r in v["reasons"])


def test_tensorrt_version_mismatch_and_its_near_miss(tmp_path):
    v, fs = judge(engine(tmp_path, A10), snap(trt="10.16.1.11"))
    assert ids(fs) == {"engine.tensorrt-version": "error"} and v["verdict"] == "not-loadable"
    assert "engine built with TensorRT 10.13.3.9; this machine has 10.16.1.11" in v["reasons"]
    _, fs = judge(engine(tmp_path, A10), snap(trt="10.13.0.1"))  # same major.minor
    assert ids(fs) == {"engine.compatible": "info"}


def test_gpu_mismatch_and_its_near_misses(tmp_path):
    _, fs = judge(engine(tmp_path, A10), snap(ccs=("9.0",)))
    assert ids(fs) == {"engine.gpu": "error"}
    assert ids(judge(engine(tmp_path, A10), snap(ccs=("9.0", "8.6")))[1]) == {"engine.compatible": "info"}
    assert ids(judge(engine(tmp_path, {**A10, "hardware_compatible": True}), snap(ccs=("9.0",)))[1]) == {"engine.compatible": "info"}


# kb rtx row: support matrix 1.5 (7.5, 8.6, 8.9, 12.0, 12.1) and the AOT page (8.0); Hopper refused on the H100
@pytest.mark.parametrize("cc, refused", [("9.0", True), ("10.0", True), ("7.0", True), ("7.5", False), ("8.9", False), ("8.0", False), ("12.0", False), ("12.1", False)])
def test_rtx_engine_on_a_gpu_tensorrt_rtx_refuses(tmp_path, cc, refused):
    side = {"backend": "tensorrt-rtx", "tensorrt": "1.2.0.54", "compute_capability": cc, "gpu": "x"}
    v, fs = judge(engine(tmp_path, side), snap(trt=None, rtx="1.2.0.54", ccs=(cc,)))
    if refused:
        assert ids(fs) == {"engine.rtx-unsupported-gpu": "error"} and v["verdict"] == "not-loadable"
        assert "TensorRT-RTX cannot run engines" in v["reasons"][0]
    else:
        assert ids(fs) == {"engine.compatible": "info"} and v["verdict"] == "loadable"


def test_rtx_version_is_judged_against_tensorrt_rtx_not_tensorrt(tmp_path):
    side = {"backend": "tensorrt-rtx", "tensorrt": "1.2.0.54", "compute_capability": "8.9"}
    v, _ = judge(engine(tmp_path, side), snap(trt="10.13.3.9", ccs=("8.9",)))
    assert v["verdict"] == "unknown" and "no TensorRT-RTX runtime is installed here" in v["reasons"][0]


@pytest.mark.parametrize("text", ["[]", '"x"', "3", "null", "{not json", "\xff"])
def test_bad_sidecar_is_one_finding_not_a_crash(tmp_path, text):
    p = engine(tmp_path)
    (tmp_path / "e.plan.json").write_bytes(text.encode("latin-1"))
    v, fs = judge(p, snap())
    assert ids(fs) == {"engine.bad-sidecar": "warning", "engine.unknown": "warning"}
    assert v["verdict"] == "unknown" and v["built_with"] == {}


def test_no_sidecar_is_info_and_the_verdict_unknown(tmp_path):
    v, fs = judge(engine(tmp_path), snap(), not_live="static check")
    assert ids(fs) == {"engine.no-sidecar": "info", "engine.unknown": "warning"}
    assert v["checked_by"] is None and v["reasons"] == [
        "static check",
        "there is no sidecar saying what the engine was built with",
        "the file does not begin with a TensorRT plan's magic tag (its first bytes: 6a756e6b)",
    ]
    assert "engine.no-sidecar" not in ids(judge(engine(tmp_path, A10), snap())[1])


# -- TensorRT itself: deserializing in a child, against the fakes -----------------------------


def test_no_runtime_importable_is_unknown_and_says_so(tmp_path):
    v, fs = judge(engine(tmp_path), snap(trt=None, ccs=()), live=True, env=env_with(absent(tmp_path)))
    assert v["verdict"] == "unknown" and v["checked_by"] is None and "engine.unknown" in ids(fs)
    assert (
        "no TensorRT runtime is installed in" in v["reasons"][0]
        and "tensorrt, tensorrt_bindings, tensorrt_lean, tensorrt_lean_bindings, tensorrt_dispatch, tensorrt_dispatch_bindings, tensorrt_rtx, tensorrt_rtx_bindings" in v["reasons"][0]
    )


def test_fake_tensorrt_refuses_junk_with_its_own_message(tmp_path):
    v, fs = judge(engine(tmp_path), snap(), live=True, env=env_with(FAKE))
    assert ids(fs) == {"engine.no-sidecar": "info", "engine.deserialize-failed": "error"}
    assert v["verdict"] == "not-loadable" and v["checked_by"] == "deserialized with tensorrt 10.13.3.9"
    assert v["reasons"] == [f"tensorrt 10.13.3.9 refused to deserialize it: {JUNK_MESSAGE}"]
    f = next(f for f in fs if f.id == "engine.deserialize-failed")
    assert f.evidence == [f"TensorRT: {JUNK_MESSAGE}"]


def test_fake_tensorrt_loads_its_own_plan_without_a_sidecar(tmp_path):
    v, fs = judge(engine(tmp_path, data=fake_plan()), snap(trt=None, ccs=()), live=True, env=env_with(FAKE))
    assert ids(fs) == {"engine.no-sidecar": "info", "engine.compatible": "info"}
    assert v["verdict"] == "loadable" and v["checked_by"] == "deserialized with tensorrt 10.13.3.9"


def test_fake_refusal_wins_over_a_matching_sidecar(tmp_path):
    v, fs = judge(engine(tmp_path, A10, data=fake_plan()), snap(), live=True, env=env_with(FAKE, FAKE_TRT_REFUSE="1"))
    assert ids(fs) == {"engine.deserialize-failed": "error"} and v["verdict"] == "not-loadable"
    assert "The engine cannot run on this GPU" in v["reasons"][0]


def test_a_lying_sidecar_is_a_warning_when_tensorrt_loads_the_engine(tmp_path):
    liar = {**A10, "tensorrt": "8.6.1", "compute_capability": "7.5"}
    v, fs = judge(engine(tmp_path, liar, data=fake_plan()), snap(ccs=("9.0",)), live=True, env=env_with(FAKE))
    assert v["verdict"] == "loadable" and ids(fs) == {"engine.sidecar-mismatch": "warning", "engine.compatible": "info"}
    # near miss: a truthful sidecar
    v, fs = judge(engine(tmp_path, {**A10, "compute_capability": "9.0"}, data=fake_plan()), snap(ccs=("9.0",)), live=True, env=env_with(FAKE))
    assert ids(fs) == {"engine.compatible": "info"} and v["built_with"]["compute_capability"] == "9.0"


def test_sidecar_and_runtime_version_disagree_is_not_loadable(tmp_path):
    # the runtime in the judged Python (fake 11.4) is what would load it, whatever the disk holds
    v, fs = judge(engine(tmp_path, A10), snap(), live=True, env=env_with(FAKE, FAKE_TRT_VERSION="11.4.0.106"))
    assert ids(fs) == {"engine.deserialize-failed": "error", "engine.tensorrt-version": "error"}
    assert any("this machine has 11.4.0.106" in r for r in v["reasons"])


def test_lean_runtime_is_tried_when_tensorrt_is_absent(tmp_path):
    lean = env_with(absent(tmp_path, "tensorrt"), FAKE_LEAN)
    d = deserialize(engine(tmp_path), env=lean)
    assert (d.state, d.module, d.log) == ("refused", "tensorrt_lean", [JUNK_MESSAGE])
    d = deserialize(engine(tmp_path, data=fake_plan()), env=lean)
    assert (d.state, d.by) == ("loaded", "tensorrt_lean 10.13.3.9")


def test_runtime_order_and_rtx_plans_go_to_tensorrt_rtx_only(tmp_path):
    # the *_bindings modules: PyPI's bindings wheels without NVIDIA's meta package (truth.txt: import
    # tensorrt_lean_bindings works; on the H100, tensorrt-rtx-cu13-bindings installs tensorrt_rtx_bindings)
    assert RUNTIMES == ("tensorrt", "tensorrt_bindings", "tensorrt_lean", "tensorrt_lean_bindings", "tensorrt_dispatch", "tensorrt_dispatch_bindings", "tensorrt_rtx", "tensorrt_rtx_bindings")
    both = env_with(absent(tmp_path, "tensorrt_rtx", "tensorrt_rtx_bindings"), FAKE, FAKE_LEAN)
    assert deserialize(engine(tmp_path), env=both).module == "tensorrt"
    side = {"backend": "tensorrt-rtx", "tensorrt": "1.2.0.54", "compute_capability": "8.9"}
    v, _ = judge(engine(tmp_path, side, data=fake_plan()), snap(rtx="1.2.0.54", ccs=("8.9",)), live=True, env=both)
    assert v["checked_by"] == "sidecar"  # a native runtime is not asked about a TensorRT-RTX plan
    assert any("none of tensorrt_rtx, tensorrt_rtx_bindings imports" in r for r in v["reasons"]), v["reasons"]


def _module(tmp_path: Path, name: str, body: str) -> str:
    d = tmp_path / "mods"
    (d / name).mkdir(parents=True)
    (d / name / "__init__.py").write_text("__version__ = '10.99.0.1'\nclass ILogger:\n    def __init__(self):\n        pass\n" + body)
    return str(d)


def test_a_hang_is_unknown_and_a_crash_is_not_loadable(tmp_path):
    hang = _module(tmp_path / "h", "tensorrt", "class Runtime:\n    def __init__(self, log): pass\n    def deserialize_cuda_engine(self, b):\n        import time; time.sleep(60)\n")
    d = deserialize(engine(tmp_path), env=env_with(hang), timeout=3)
    assert d.state == "unknown" and "timed out after 3s (raise --timeout)" in d.reason
    crash = _module(tmp_path / "c", "tensorrt", "class Runtime:\n    def __init__(self, log): self.log = log\n    def deserialize_cuda_engine(self, b):\n        self.log.log(1, 'about to fail'); import os; os.abort()\n")
    d = deserialize(engine(tmp_path), env=env_with(crash))
    assert d.state == "refused" and d.reason == "deserializing with tensorrt 10.99.0.1 crashed with SIGABRT: about to fail"


def test_a_runtime_that_cannot_start_is_unknown_not_a_verdict_on_the_engine(tmp_path):
    # as the real tensorrt_lean 11.4 does without a GPU: logs an error, returns a Runtime anyway
    body = "class Runtime:\n    def __init__(self, log):\n        log.log(1, 'createInferRuntime: Error Code 6: API Usage Error (CUDA initialization failure with error: 35)')\n    def deserialize_cuda_engine(self, b):\n        import os; os.abort()\n"
    v, fs = judge(engine(tmp_path), snap(), live=True, env=env_with(_module(tmp_path, "tensorrt_lean", body)))
    assert v["verdict"] == "unknown" and "engine.deserialize-failed" not in ids(fs)
    assert "tensorrt_lean 10.99.0.1 could not start a runtime here" in v["reasons"][0] and "CUDA initialization failure" in v["reasons"][0]
    raises = _module(tmp_path / "r", "tensorrt", "class Runtime:\n    def __init__(self, log):\n        raise TypeError('pybind11::init(): factory function returned nullptr')\n")
    d = deserialize(engine(tmp_path), env=env_with(raises))
    assert d.state == "unknown" and "factory function returned nullptr" in d.reason


def test_a_broken_install_is_named(tmp_path):
    broken = _module(tmp_path, "tensorrt", "raise ImportError('libnvinfer.so.10: cannot open shared object file')\n")
    d = deserialize(engine(tmp_path), env=env_with(broken))
    assert d.state == "absent" and "import tensorrt: ImportError: libnvinfer.so.10: cannot open shared object file" in d.reason


@pytest.mark.skipif(importlib.util.find_spec("tensorrt_lean") is None, reason="the real tensorrt_lean is not installed (pip install tensorrt-lean-cu13)")
def test_real_lean_runtime_on_junk_is_never_loadable(tmp_path):
    """With a GPU, TensorRT refuses junk in its own words; without one (seen: lean 11.4.0.106, no GPU),
    the runtime logs a CUDA initialization failure and would crash deserializing: unknown, not a verdict."""
    d = deserialize(engine(tmp_path, data=b"not a TensorRT plan " * 64), env=dict(os.environ), timeout=120, modules=("tensorrt_lean",))
    assert d.module == "tensorrt_lean" and d.state in ("refused", "unknown"), d
    if d.state == "refused":
        assert any("deserializeCudaEngine" in m for m in d.log), d
    else:
        assert "could not start a runtime here" in d.reason and "CUDA" in d.reason, d


# -- the command line ---------------------------------------------------------------------------


def test_cli_prints_the_verdict_without_v_and_never_compatible_without_tensorrt_or_gpu(tree, tmp_path):
    tree.base()  # no driver, no GPU, no TensorRT
    p = engine(tmp_path, A10)
    res = run_cli("check", "--root", str(tree.root), "--engine", str(p))
    assert res.returncode in (0, 1), res.stderr
    line = next(x for x in res.stdout.splitlines() if x.lstrip("!✓✗ ").startswith("engine"))
    assert str(p) in line and "unknown: cannot tell" in line
    assert "no TensorRT runtime is installed here" in res.stdout and "no GPU was found" in res.stdout
    assert "static check of" in res.stdout
    low = res.stdout.lower()
    assert "compatible" not in low and "matches" not in low and "loadable here" not in low


def test_cli_live_with_the_fake_says_not_loadable(tmp_path):
    p = engine(tmp_path)
    res = run_cli("check", "--skip", "libraries", "--engine", str(p), env=env_with(FAKE))
    assert res.returncode == 1, res.stderr
    assert f"✗ engine       {p}: NOT loadable here" in res.stdout and JUNK_MESSAGE in res.stdout
    assert "checked by: deserialized with tensorrt 10.13.3.9" in res.stdout


@pytest.mark.parametrize("text", ["[]", '"x"'])
def test_cli_non_dict_sidecar_is_a_finding_not_an_internal_error(tmp_path, text):
    p = engine(tmp_path, text)
    res = run_cli("check", "--json", "--skip", "libraries", "--engine", str(p), env=env_with())
    assert "internal error" not in res.stderr and res.returncode in (0, 1), res.stderr
    rep = json.loads(res.stdout)
    f = next(f for f in rep["findings"] if f["id"] == "engine.bad-sidecar")
    assert "expected a JSON object" in f["title"] and "\n" not in f["title"]


def test_cli_missing_engine_is_an_error(tmp_path):
    res = run_cli("check", "--skip", "libraries", "--engine", str(tmp_path / "nope.plan"), env=env_with())
    assert res.returncode == 1 and "does not exist" in res.stdout and "NOT loadable" in res.stdout


def test_cli_json_and_markdown_carry_the_engine(tree, tmp_path):
    tree.base()
    p = engine(tmp_path, A10)
    rep = check_json(tree.root, "--engine", str(p))
    assert set(rep["engine"]) == {"path", "verdict", "reasons", "built_with", "checked_by"}
    assert rep["engine"]["verdict"] == "unknown" and rep["engine"]["built_with"]["tensorrt"] == "10.13.3.9"
    assert "engine.unknown" in [f["id"] for f in rep["findings"]]
    assert "engine" not in check_json(tree.root)
    md = run_cli("check", "--root", str(tree.root), "--format", "markdown", "--engine", str(p)).stdout
    assert "### Engine" in md and md.index("### Engine") < md.index("<details>") and "**unknown**" in md


def test_cli_from_a_saved_report_judges_by_the_sidecar(tree, tmp_path):
    tree.base()
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(check_json(tree.root)))
    res = run_cli("check", "--json", "--from", str(saved), "--engine", str(engine(tmp_path, A10)))
    e = json.loads(res.stdout)["engine"]
    assert e["verdict"] == "unknown" and e["checked_by"] == "sidecar"
    assert any("no GPU was found" in r for r in e["reasons"])
    bare = json.loads(run_cli("check", "--json", "--from", str(saved), "--engine", str(engine(tmp_path, name="bare.plan"))).stdout)["engine"]
    assert "this re-checks a saved report, so the engine was not deserialized" in bare["reasons"]


# -- the plan's own header: magic tag and version bytes (kb plan_magic, plan_version) ---------

RTX_PLAN = REPO / "tests" / "fixtures" / "plans" / "rtx-1.7.1.116-sm90-reference-fp16.plan"


def header_plan(tmp_path: Path, magic: bytes, version: tuple, prefix: bytes = b"") -> Path:
    """A plan's first bytes as the kb describes them: the tag, then the version at offset 24."""
    head = magic + bytes(20) + bytes(version) + bytes(37)
    p = tmp_path / "h.plan"
    p.write_bytes((len(prefix).to_bytes(4, "little") + prefix if prefix else b"") + head)
    return p


def test_a_real_tensorrt_rtx_plan_says_what_built_it():
    from trtdoctor.smoke import plan_header

    h = plan_header.read(RTX_PLAN)
    assert (h["magic"], h["backend"], h["version"], h["offset"]) == ("vtrt", "tensorrt-rtx", "1.7.1", 0)  # built by 1.7.1.116


def test_with_no_sidecar_the_header_says_it_is_an_rtx_plan_for_a_gpu_rtx_refuses():
    v, fs = judge(RTX_PLAN, snap(trt=None, ccs=("9.0",), rtx="1.7.1.116"), not_live="static check")
    assert v["built_with"] == {"backend": "tensorrt-rtx", "tensorrt": "1.7.1", "from": "plan header"} and v["header"]["magic"] == "vtrt"
    # 'vtrt' is seen, not documented (kb verified: false): a warning and "unknown", never an error
    assert ids(fs)["engine.rtx-unsupported-gpu"] == "warning" and v["verdict"] == "unknown"
    assert any(r.startswith("likely not: TensorRT-RTX cannot run engines on this machine's GPU (sm_90)") for r in v["reasons"])
    near, fs2 = judge(RTX_PLAN, snap(trt=None, ccs=("8.9",), rtx="1.7.1.116"), not_live="static check")
    assert "engine.rtx-unsupported-gpu" not in ids(fs2) and "engine.tensorrt-version" not in ids(fs2)
    assert "its header does not say which GPU built the engine, so the compute capability cannot be checked" in near["reasons"]


def test_an_rtx_plan_is_offered_to_tensorrt_rtx_runtimes_only(tmp_path):
    """Before, a sidecar-less RTX plan went to the first runtime that imported (the fake native one)."""
    v, _ = judge(RTX_PLAN, snap(ccs=("8.9",)), live=True, env=env_with(absent(tmp_path, "tensorrt_rtx", "tensorrt_rtx_bindings"), FAKE))
    assert v["checked_by"] is None and v["reasons"][0] == "no TensorRT-RTX runtime is installed here, so the engine's TensorRT-RTX version cannot be checked", v


@pytest.mark.parametrize("prefix", [b"", b'{"author": "Ultralytics", "task": "detect"}'])
def test_a_tensorrt_plan_from_another_version_is_likely_not_loadable(tmp_path, prefix):
    plan = header_plan(tmp_path, b"ftrt", (10, 3, 0), prefix)
    v, fs = judge(plan, snap(trt="10.13.3.9"), not_live="static check")
    assert v["header"]["offset"] == (4 + len(prefix) if prefix else 0) and v["built_with"]["tensorrt"] == "10.3.0"
    assert ids(fs)["engine.tensorrt-version"] == "warning" and v["verdict"] == "unknown"  # the offset is not confirmed by NVIDIA's docs
    same, fs2 = judge(header_plan(tmp_path, b"ftrt", (10, 13, 3), prefix), snap(trt="10.13.3.9"), not_live="static check")
    assert "engine.tensorrt-version" not in ids(fs2) and same["built_with"]["tensorrt"] == "10.13.3"
