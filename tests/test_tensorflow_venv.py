"""A real tensorflow==2.17.1 from PyPI in a virtual environment, checked live on a machine
without TensorRT. The venv is cached (TRTDOCTOR_TF_VENV or ~/.cache/trtdoctor-tests)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

pytestmark = pytest.mark.tf
VENV = Path(os.environ.get("TRTDOCTOR_TF_VENV", Path.home() / ".cache" / "trtdoctor-tests" / "tf-2.17.1"))


@pytest.fixture(scope="session")
def tf_venv() -> Path:
    py = VENV / "bin" / "python"
    ok = py.exists() and subprocess.run([str(py), "-c", "import importlib.metadata as m; assert m.version('tensorflow') == '2.17.1'"], capture_output=True).returncode == 0
    if not ok:
        if sys.version_info[:2] > (3, 12):
            pytest.skip("tensorflow 2.17.1 has no wheel for this Python")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        res = subprocess.run([str(py), "-m", "pip", "install", "-q", "tensorflow==2.17.1"], capture_output=True, text=True, timeout=1500)
        assert res.returncode == 0, res.stderr[-2000:]
    return VENV


@pytest.fixture(scope="session")
def tf_report(tf_venv):
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES")}
    env["VIRTUAL_ENV"] = str(tf_venv)
    res = run_cli("check", "--json", "--timeout", "120", env=env, timeout=600)
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    return json.loads(res.stdout)


def test_reports_the_tensorrt_861_build(tf_report):
    inst = next(i for i in tf_report["snapshot"]["tensorflow"]["installs"] if i["site_packages"].startswith(str(VENV)))
    assert inst["version"] == "2.17.1"
    assert inst["build_info"]["is_tensorrt_build"] is True and inst["build_info"]["cuda_version"] == "12.3"
    live = inst["live"]
    assert live["linked_tensorrt"] == "8.6.1"
    assert isinstance(live["is_tensorrt_enabled"], bool)
    assert live["loaded_tensorrt"] is None  # never asked: it would abort the interpreter
    assert any("Could not find TensorRT" in line for line in live["log"])


def test_says_libnvinfer_does_not_resolve_with_the_fix(tf_report):
    f = next(f for f in tf_report["findings"] if f["id"] == "tensorflow.tensorrt-not-loadable")
    assert f["severity"] == "error"
    assert "TensorRT 8.6.1" in f["title"] and "libnvinfer.so.8.6.1" in f["title"]
    assert any("cannot open shared object file" in e for e in f["evidence"])
    assert "tensorrt==8.6.1" in f["fix"]["commands"][0] and "--extra-index-url https://pypi.nvidia.com" in f["fix"]["commands"][0]
    consumer = next(c for c in tf_report["snapshot"]["libraries"]["consumers"] if c["name"].startswith("tensorflow"))
    assert {"libnvinfer.so.8.6.1", "libnvinfer_plugin.so.8.6.1", "libcudart.so.12", "libcudnn.so.8"} <= set(consumer["needs"])
    assert consumer["resolutions"]["libnvinfer.so.8.6.1"]["resolved"] is None


def test_tf_trt_smoke_stops_with_the_diagnosis_not_an_abort(tf_venv):
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES")}
    env["VIRTUAL_ENV"] = str(tf_venv)
    res = run_cli("smoke", "--backend", "tf-trt", "--precision", "fp16", "--format", "json", "--timeout", "120", env=env, timeout=600)
    assert res.returncode == 1, res.stderr
    assert "Aborted" not in res.stderr and "Traceback" not in res.stderr
    r = json.loads(res.stdout)
    assert r["result"] == "FAIL" and r["request"]["backend"] == "tf-trt"
    ids = [f["id"] for f in r["preflight"]]
    assert "tensorflow.tensorrt-not-loadable" in ids


def tf_env(venv: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES")}
    env["VIRTUAL_ENV"] = str(venv)
    return env


@pytest.fixture(scope="session")
def tf_saved(tf_report, tmp_path_factory) -> str:
    """The venv's check, saved: later smokes take it with --from instead of importing TF again."""
    path = tmp_path_factory.mktemp("tf-report") / "report.json"
    path.write_text(json.dumps(tf_report))
    return str(path)


@pytest.fixture(scope="session")
def tf_smoke(tf_venv, tmp_path_factory):
    """Issue 14's "done when": the reference SavedModel built by TF, TF's baseline on the CPU,
    conversion stopped by the missing libnvinfer.so.8.6.1. One run, shared by the tests."""
    cache = tmp_path_factory.mktemp("tf-cache")
    res = run_cli(
        "smoke", "--backend", "tf-trt", "--precision", "fp16", "--force", "--format", "json", "--iterations", "20", "--warmup", "2", "--engine-cache", str(cache), "--timeout", "120", env=tf_env(tf_venv), timeout=600
    )
    return res, cache


def test_tf_trt_smoke_builds_the_reference_savedmodel_and_times_tf(tf_smoke):
    res, cache = tf_smoke
    assert res.returncode == 1, res.stderr
    assert "Aborted" not in res.stderr and "Traceback" not in res.stderr
    r = json.loads(res.stdout)
    tfo = r["tensorflow"]
    assert tfo["version"] == "2.17.1" and tfo["python"].startswith(str(VENV)) and tfo["built_reference"] is True
    assert (Path(tfo["model_dir"]) / "saved_model.pb").is_file() and tfo["model_dir"].startswith(str(cache))
    assert tfo["signature"] == "serving_default" and tfo["device"].endswith("CPU:0")
    assert r["model"]["inputs"] == [{"name": "input", "dtype": "float32", "dims": ["?", 32, 32, 3]}]
    assert r["baseline"]["name"] == "tensorflow-cpu" and r["baseline"]["latency_ms"]["n"] == 20 and r["baseline"]["latency_ms"]["median"] > 0


def test_tf_trt_conversion_ends_in_the_diagnosis_naming_libnvinfer(tf_smoke):
    r = json.loads(tf_smoke[0].stdout)
    tt = r["tftrt"]
    assert tt["converted"] is False and tt["trt_sonames"] == ["libnvinfer.so.8.6.1", "libnvinfer_plugin.so.8.6.1"]
    d = tt["diagnosis"]
    assert d["library"] == "libnvinfer.so.8.6.1" and "cannot open shared object file" in d["error"]
    assert d["finding"] == "tensorflow.tensorrt-not-loadable" and "tensorrt==8.6.1" in d["fix"]
    assert "libnvinfer.so.8.6.1" in r["reason"] and "tensorrt==8.6.1" in r["reason"] and r["result"] == "FAIL"
    from test_smoke_models import smoke_schema

    assert not [e.message for e in smoke_schema().iter_errors(r)]


def test_model_takes_a_savedmodel_read_by_tf_and_says_tf2onnx_is_missing(tf_smoke, tf_venv, tf_saved):
    model_dir = json.loads(tf_smoke[0].stdout)["tensorflow"]["model_dir"]
    res = run_cli("smoke", "--from", tf_saved, "--backend", "tensorrt", "--model", model_dir, "--force", "--format", "json", env=tf_env(tf_venv), timeout=600)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    r = json.loads(res.stdout)
    assert r["tensorflow"]["built_reference"] is False and r["model"]["outputs"][0]["name"] == "logits"
    assert r["reason"] == f"--backend tensorrt on a SavedModel needs tf2onnx in {VENV}/bin/python: {VENV}/bin/python -m pip install tf2onnx"


def test_a_broken_savedmodel_is_one_line_and_exit_2(tf_venv, tf_saved, tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"not a protobuf")
    res = run_cli("smoke", "--from", tf_saved, "--backend", "tf-trt", "--model", str(tmp_path), "--force", env=tf_env(tf_venv), timeout=600)
    assert res.returncode == 2 and res.stderr.startswith(f"trtdoctor: TensorFlow cannot load --model {tmp_path}") and res.stderr.strip().count("\n") == 0, res.stderr


def test_tf_2171_takes_every_converter_argument_we_ask_for(tf_venv):
    """The converter's arguments read from the real TrtConversionParams and TrtGraphConverterV2."""
    from trtdoctor.smoke import tf_child

    req = {"convert": {"precision": "int8", "workspace_bytes": 1 << 30, "min_segment_size": 3, "profile": {"input": [[1], [8], [16]]}}}
    code = (
        "import inspect, json, sys\n"
        "from tensorflow.python.compiler.tensorrt import trt_convert as trt\n"
        "print(json.dumps([sorted(trt.TrtConversionParams._fields), sorted(inspect.signature(trt.TrtGraphConverterV2.__init__).parameters)]))\n"
    )
    res = subprocess.run([str(tf_venv / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=300)
    params, init = json.loads(res.stdout.strip().splitlines()[-1])
    pkw, ikw, dropped = tf_child.converter_kwargs(req, set(params), set(init))
    assert dropped == [] and pkw["max_workspace_size_bytes"] == 1 << 30 and ikw["use_dynamic_shape"] is True


def test_past_the_dlopen_check_tf_without_tensorrt_is_a_stage_error_not_an_abort(tf_smoke, tf_venv, tmp_path):
    """Were the sonames to load, TF 2.17.1 without TF-TRT still fails in the converter: one line."""
    from trtdoctor.smoke import tftrt

    model_dir = json.loads(tf_smoke[0].stdout)["tensorflow"]["model_dir"]
    import numpy as np

    np.savez(tmp_path / "feeds.npz", input=np.zeros((2, 32, 32, 3), np.float32))
    req = {"action": "run", "model_dir": model_dir, "signature": "serving_default", "feeds": str(tmp_path / "feeds.npz"), "work": str(tmp_path), "iterations": 2, "warmup": 0, "device": 0}
    req |= {
        "specs": [{"name": "input", "dtype": "float32"}],
        "convert": {"precision": "fp16", "trt_sonames": ["libc.so.6"], "profile": {"input": [[1, 32, 32, 3], [2, 32, 32, 3], [4, 32, 32, 3]]}, "calib": [], "out": str(tmp_path / "out")},
    }
    ans = tftrt.call_child(str(tf_venv / "bin" / "python"), req, 300)
    assert list(ans.stages) == ["baseline", "trt_check", "convert"]
    assert ans.error == "convert: RuntimeError: Tensorflow has not been built with TensorRT support."
    assert not (tmp_path / "out").exists()
