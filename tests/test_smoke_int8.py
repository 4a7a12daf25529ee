"""`smoke --precision int8` that is INT8 (issue 13): Polygraphy's real Calibrator driven by the
named fake TensorRT the way TensorRT drives it (cache first, then batches, then the cache
written), the calibration cache reused and never written where it is not ours, the Q/DQ model
held to tolerance before TensorRT sees it, and the mode following the kb.

Polygraphy copies each batch to the GPU with libcudart, which this CPU machine lacks: here the
host pointer stands in for the device one (the fake never reads it). The copy itself is
tests/test_gpu_calibrator.py, on a GPU."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

from trtdoctor import knowledge
from trtdoctor.smoke.backends import SmokeError, TensorRTBackend
from trtdoctor.smoke.inputs import describe, random_feeds

pytest.importorskip("onnxruntime")
pytest.importorskip("polygraphy")
onnx = pytest.importorskip("onnx")

FAKE = str(REPO / "tests" / "fake_tensorrt")
# Polygraphy's device copy, replaced by the host pointer; then the CLI, as a user runs it.
HOST_COPY = """
import sys
import polygraphy.backend.trt.util as u
u._get_array_on_gpu = lambda arr, name, buffers, stream=None: arr.ctypes.data
from trtdoctor.cli import run
sys.argv[0] = "trtdoctor"
run()
"""


def smoke(saved, tmp_path, version, *args, fmt="json"):
    env = {**os.environ, "PYTHONPATH": FAKE + os.pathsep + str(REPO), "FAKE_TRT_VERSION": version}
    cmd = [sys.executable, "-c", HOST_COPY, "smoke", "--from", str(saved), "--force", "--backend", "tensorrt", "--precision", "int8"]
    cmd += ["--format", fmt, "--iterations", "3", "--warmup", "1", "--engine-cache", str(tmp_path / "engines"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def report(res) -> dict:
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr
    return json.loads(res.stdout)


def plan(tmp_path) -> dict:
    return json.loads((tmp_path / "engines" / "reference-tensorrt-int8.plan").read_bytes())


def calib_npz(path, n=32, scale=1.0):
    from trtdoctor.smoke.model import sample_inputs

    np.savez(path, input=sample_inputs(n, seed=9) * scale)
    return path


def schema_errors(r: dict) -> list[str]:
    from jsonschema import Draft202012Validator

    v = Draft202012Validator(json.loads((REPO / "trtdoctor" / "schemas" / "smoke-1.json").read_text()))
    return [e.message for e in v.iter_errors(r)]


IMPLICIT = "10.0.1.6"  # before the kb's deprecation of calibrators: implicit by default


# --- implicit quantization: the calibrator, its data and its cache ----------------------------


def test_implicit_entropy_calibrates_on_the_users_data_and_writes_the_cache(saved, tmp_path):
    cache = tmp_path / "calib.cache"
    res = smoke(saved, tmp_path, IMPLICIT, "--calib-data", str(calib_npz(tmp_path / "c.npz")), "--calib-cache", str(cache))
    r = report(res)
    q = r["int8"]
    assert (q["mode"], q["calibrator"], q["data"], q["batches"], q["synthetic"]) == ("implicit", "entropy", str(tmp_path / "c.npz"), 4, False)
    assert (q["cache"], q["cache_reused"], q["cache_written"], q["warnings"]) == (str(cache), False, True, [])
    p = plan(tmp_path)
    assert p["builder_flags"] == ["INT8"] and p["calibrator"] is True
    # the fake TensorRT asked for batches until there were none: 32 samples at the opt batch of 8
    assert p["calibration"]["algorithm"] == "ENTROPY_CALIBRATION_2" and p["calibration"]["batches"] == 4
    assert all(len(ptrs) == 1 and ptrs[0] for ptrs in p["calibration"]["pointers"])  # one pointer per input
    assert cache.read_bytes() == b"TRT-100001-EntropyCalibration2\ninput: 3c010a14\n"  # what TensorRT wrote, whole
    assert sorted(x.name for x in tmp_path.iterdir() if x.name.startswith(".")) == []  # no temporary left
    assert not schema_errors(r)
    text = smoke(saved, tmp_path, IMPLICIT, "--calib-data", str(tmp_path / "c.npz"), fmt="text").stdout
    assert f"int8: implicit quantization, entropy calibration, 4 batches from {tmp_path / 'c.npz'}" in text


def test_a_cache_that_exists_is_reused_and_needs_no_data(saved, tmp_path):
    cache = tmp_path / "calib.cache"
    assert report(smoke(saved, tmp_path, IMPLICIT, "--calib-cache", str(cache)))["int8"]["cache_written"]
    before = (cache.read_bytes(), cache.stat().st_mtime_ns)
    q = report(smoke(saved, tmp_path, IMPLICIT, "--calib-cache", str(cache)))["int8"]
    assert (q["cache_reused"], q["cache_written"], q["data"], q["batches"], q["warnings"]) == (True, False, None, 0, [])
    assert plan(tmp_path)["calibration"] == {"algorithm": "ENTROPY_CALIBRATION_2", "cache_used": True, "batches": 0, "pointers": []}
    assert (cache.read_bytes(), cache.stat().st_mtime_ns) == before  # read, not rewritten


def test_without_calibration_data_it_says_the_scales_mean_nothing(saved, tmp_path):
    q = report(smoke(saved, tmp_path, IMPLICIT))["int8"]
    assert q["synthetic"] is True and q["data"] == "synthetic" and q["cache"] is None
    assert any("synthetic random data: its scales mean nothing" in w for w in q["warnings"])


def test_minmax_uses_tensorrts_minmax_calibrator_and_replaces_a_stale_cache(saved, tmp_path):
    """An entropy cache does not serve a MinMax calibrator: TensorRT calibrates again and the
    new, shorter cache replaces the old one whole."""
    cache = tmp_path / "calib.cache"
    data = str(calib_npz(tmp_path / "c.npz"))
    report(smoke(saved, tmp_path, IMPLICIT, "--calib-data", data, "--calib-cache", str(cache)))
    q = report(smoke(saved, tmp_path, IMPLICIT, "--calib-data", data, "--calib-cache", str(cache), "--calibrator", "minmax"))["int8"]
    assert (q["calibrator"], q["cache_reused"], q["cache_written"], q["batches"]) == ("minmax", False, True, 4)
    assert plan(tmp_path)["calibration"]["algorithm"] == "MINMAX_CALIBRATION"
    assert cache.read_bytes() == b"TRT-100001-MinMaxCalibration\ninput: 3c010a14\n"


def test_calibration_batches_are_taken_at_the_profiles_opt_shape(saved, tmp_path):
    folder = tmp_path / "calib"
    folder.mkdir()
    ins, _ = describe(__import__("trtdoctor.smoke.model", fromlist=["reference_model"]).reference_model())
    for i, n in enumerate((8, 8, 3)):
        np.savez(folder / f"b{i}.npz", **random_feeds(ins, {"input": (n, 3, 32, 32)}, seed=i))
    q = report(smoke(saved, tmp_path, IMPLICIT, "--calib-data", str(folder)))["int8"]
    assert q["batches"] == 2 and q["warnings"] == ["1 of 3 calibration batches skipped: TensorRT calibrates at the profile's opt shape (input:8x3x32x32)"]
    res = smoke(saved, tmp_path, IMPLICIT, "--calib-data", str(folder), "--batch", "4")
    assert res.returncode == 2 and res.stdout == "" and res.stderr.strip().splitlines() == ["trtdoctor: --calib-data: no batch has the profile's opt shape (input:4x3x32x32), the shape TensorRT calibrates at"]


@pytest.mark.parametrize("kind", ["theirs", "link", "fifo", "folder", "no-folder"])
def test_a_calib_cache_that_is_not_ours_is_refused_in_one_line(saved, tmp_path, kind):
    target = tmp_path / "calib.cache"
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's")
    if kind == "theirs":
        target.write_text("the user's notes\n")
    elif kind == "link":
        good = tmp_path / "real.cache"
        good.write_bytes(b"TRT-100001-EntropyCalibration2\ninput: 3c010a14\n")
        target.symlink_to(good)
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    else:
        target = tmp_path / "nowhere" / "calib.cache"
    res = smoke(saved, tmp_path, IMPLICIT, "--calib-cache", str(target))
    assert res.returncode == 2 and res.stdout == "" and len(res.stderr.strip().splitlines()) == 1, res.stderr
    words = {"theirs": "not a TensorRT calibration cache", "no-folder": "no such folder"}.get(kind, "not a regular file")
    assert words in res.stderr and "Traceback" not in res.stderr
    if kind == "theirs":
        assert target.read_text() == "the user's notes\n"
    if kind == "link":
        assert (tmp_path / "real.cache").read_bytes().startswith(b"TRT-100001-EntropyCalibration2\n")
    assert not (tmp_path / "engines").exists() or not list((tmp_path / "engines").glob("*.plan"))


def test_without_polygraphy_the_reason_says_how_to_install_it(monkeypatch):
    from trtdoctor.smoke import calibrate

    monkeypatch.setitem(sys.modules, "polygraphy", None)  # import fails as if absent
    monkeypatch.setitem(sys.modules, "polygraphy.backend.trt", None)
    with pytest.raises(SmokeError, match=r"needs Polygraphy's calibrator, which is not installed: pip install polygraphy .*--quantization explicit"):
        calibrate._polygraphy()


def test_a_polygraphy_that_fails_to_import_is_not_called_absent(tmp_path):
    """In a child: a half-installed polygraphy must not linger in this process's modules."""
    pkg = tmp_path / "polygraphy"
    (pkg / "backend").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "backend" / "__init__.py").write_text("")
    (pkg / "backend" / "trt.py").write_text("import a_dependency_gone_missing\n")
    code = "from trtdoctor.smoke import calibrate\ntry:\n    calibrate._polygraphy()\nexcept calibrate.SmokeError as e:\n    print(e)\n"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(tmp_path), str(REPO)))}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert res.stdout.startswith("Polygraphy is installed but does not import (No module named 'a_dependency_gone_missing')"), res.stdout + res.stderr


# --- explicit quantization and the choice between the two -------------------------------------


def _backend(version: str, name: str = "tensorrt") -> TensorRTBackend:
    import types

    b = TensorRTBackend("tensorrt_rtx" if name == "tensorrt-rtx" else "tensorrt")
    b.trt = types.SimpleNamespace(__version__=version)
    return b


def test_the_mode_follows_the_kb_and_the_request():
    from trtdoctor.smoke.calibrate import quantization_mode

    assert [quantization_mode(_backend(v), None)[0] for v in ("8.6.1", "9.3.0", "10.0.1.6", "10.1.0", "10.13.3.9", "11.4.0.106")] == ["implicit"] * 3 + ["explicit"] * 3
    assert quantization_mode(_backend("10.13.3.9"), "implicit") == ("implicit", "--quantization")
    assert quantization_mode(_backend("9.3.0"), "explicit")[0] == "explicit"
    assert quantization_mode(_backend("1.5.0", "tensorrt-rtx"), None)[0] == "explicit"
    for b in (_backend("11.4.0.106"), _backend("1.5.0", "tensorrt-rtx")):
        with pytest.raises(SmokeError, match="--quantization implicit: .* takes INT8 only from Q/DQ nodes"):
            quantization_mode(b, "implicit")


def test_the_mode_is_the_kbs_not_a_version_written_in_code(monkeypatch):
    import copy

    from trtdoctor.smoke.calibrate import quantization_mode

    data = copy.deepcopy(knowledge.load("tensorrt"))
    data["deprecated_apis"] = [dict(r, since="10.20") if r["name"] == "IInt8Calibrator" else r for r in data["deprecated_apis"]]
    real = knowledge.load
    monkeypatch.setattr(knowledge, "load", lambda name: data if name == "tensorrt" else real(name))
    assert quantization_mode(_backend("10.13.3.9"), None)[0] == "implicit"


@pytest.mark.parametrize(("version", "strong"), [("10.13.3.9", False), ("11.4.0.106", True)])
def test_explicit_builds_a_validated_qdq_model(saved, tmp_path, version, strong):
    r = report(smoke(saved, tmp_path, version, "--calib-data", str(calib_npz(tmp_path / "c.npz"))))
    q = r["int8"]
    assert (q["mode"], q["calibrator"], q["batches"], q["synthetic"]) == ("explicit", "minmax", 4, False)
    assert q["accuracy"]["passed"] and q["accuracy"]["cosine"] > 0.98
    p = plan(tmp_path)
    assert p["qdq_nodes"] > 10 and p["calibrator"] is False and p["calibration"] is None
    assert p["builder_flags"] == ([] if strong else ["INT8"]) and bool(p["network_flags"] & 2) is strong
    assert not schema_errors(r)


def test_explicit_says_which_implicit_options_it_did_not_use(saved, tmp_path):
    """onnxruntime's entropy calibrator (128 bins for 128 levels) picks the max, as MinMax does:
    the report says MinMax rather than a method that changed nothing; the cache is not made."""
    q = report(smoke(saved, tmp_path, "11.4.0.106", "--calib-data", str(calib_npz(tmp_path / "c.npz")), "--calibrator", "entropy", "--calib-cache", str(tmp_path / "x.cache")))["int8"]
    assert q["calibrator"] == "minmax" and q["accuracy"]["passed"]
    assert q["warnings"] == [
        "--calib-cache is for implicit calibration: explicit Q/DQ scales live in the model; it was not used",
        "--calibrator entropy is TensorRT's implicit calibrator: onnxruntime makes the Q/DQ model with MinMax ranges",
    ]
    assert not (tmp_path / "x.cache").exists()


def test_a_qdq_model_out_of_tolerance_stops_before_tensorrt(saved, tmp_path):
    """Scales read from inputs a twentieth of the size of the ones run clip them."""
    res = smoke(saved, tmp_path, "11.4.0.106", "--calib-data", str(calib_npz(tmp_path / "c.npz", scale=0.05)))
    r = report(res)
    assert res.returncode == 1 and r["result"] == "FAIL" and r["int8"]["accuracy"]["passed"] is False
    assert r["reason"].startswith("the Q/DQ INT8 model is out of tolerance against FP32 on onnxruntime (cosine ")
    assert "so TensorRT was not given it" in r["reason"] and "build" not in r
    assert not (tmp_path / "engines" / "reference-tensorrt-int8.plan").exists()
    assert not schema_errors(r)


def test_a_tensorrt_polygraphy_cannot_calibrate_is_a_reason_not_a_traceback(tmp_path):
    """A TensorRT without the calibrator classes (as 11 is): one line, and the way out."""
    from trtdoctor.smoke.calibrate import implicit_calibrator
    from trtdoctor.smoke.runner import prepare

    prep = prepare({"model": "reference", "batch": 2})
    rep = {"calibrator": "entropy", "warnings": []}
    with pytest.raises(SmokeError, match=r"^Polygraphy could not make an INT8 calibrator for tensorrt 11.4.0.106: .*; use --quantization explicit$"):
        with implicit_calibrator(_backend("11.4.0.106"), prep, {"calib_data": None, "calib_cache": None}, rep):
            pass


def test_best_calibrates_its_int8_too_and_a_strongly_typed_best_is_fp16(saved, tmp_path):
    """--precision best sets the INT8 flag beside FP16: without a calibrator TensorRT ≤ 10 would
    run the INT8 layers uncalibrated at higher precision while the report said best."""
    r = report(smoke(saved, tmp_path, IMPLICIT, "--precision", "best"))
    p = json.loads((tmp_path / "engines" / "reference-tensorrt-best.plan").read_bytes())
    assert p["builder_flags"] == ["FP16", "INT8"] and p["calibrator"] is True and r["int8"]["mode"] == "implicit"
    r11 = report(smoke(saved, tmp_path, "11.4.0.106", "--precision", "best"))
    p11 = json.loads((tmp_path / "engines" / "reference-tensorrt-best.plan").read_bytes())
    assert "int8" not in r11 and p11["input_dtype"] == "float16" and p11["builder_flags"] == []


def test_a_sweep_says_how_each_precisions_int8_was_made(saved, tmp_path):
    r = report(smoke(saved, tmp_path, IMPLICIT, "--precision", "int8,best", "--calib-data", str(calib_npz(tmp_path / "c.npz"))))
    by = {b["precision"]: b for b in r["builds"]}
    assert by["int8"]["int8"]["mode"] == by["best"]["int8"]["mode"] == "implicit" and by["best"]["int8"]["batches"] == 4
    assert r["int8"] == by["int8"]["int8"]  # the top-level key: the first INT8-carrying precision's
    assert not schema_errors(r)
    one = report(smoke(saved, tmp_path, IMPLICIT))
    assert "int8" in one and "int8" not in one["build"]  # a single cell says it once


def test_a_best_sweep_checks_its_qdq_model_against_fp32_too(saved, tmp_path):
    """best goes through the same INT8 path: in a sweep of batches its Q/DQ model needs the FP32
    outputs as well (it was an internal error)."""
    r = report(smoke(saved, tmp_path, "10.13.3.9", "--precision", "best", "--batch", "1,8"))
    q = r["builds"][0]["int8"]
    assert q["mode"] == "explicit" and q["accuracy"]["passed"] and not schema_errors(r)
