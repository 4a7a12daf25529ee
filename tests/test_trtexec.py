"""trtexec beside ours (issue 13, item 4): the command lines it gets, its performance summary
read back, and what happens when it is absent, fails or hangs. trtexec cannot exist here:
tests/fake_trtexec/trtexec, named as a fake, prints output captured from real trtexec runs and
is put first on PATH; the builds run on the named fake TensorRT; the CLI as a process."""

import json
import os
import time

import pytest
from conftest import REPO, run_cli
from test_smoke_models import keras_nhwc

from trtdoctor.smoke import trtexec
from trtdoctor.smoke.inputs import describe, resolve
from trtdoctor.smoke.runner import smoke_text

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
FAKE_TRT = str(REPO / "tests" / "fake_tensorrt")
FAKE_TRTEXEC = REPO / "tests" / "fake_trtexec"
SUMMARY = (FAKE_TRTEXEC / "trtexec").read_text()


def env(tmp_path, mode="ok", version="10.13.3.9", path=True):
    e = {**os.environ, "PYTHONPATH": FAKE_TRT, "FAKE_TRT_VERSION": version, "FAKE_TRTEXEC": mode}
    e |= {"FAKE_TRTEXEC_ARGV": str(tmp_path / "argv.jsonl"), "FAKE_TRTEXEC_PID": str(tmp_path / "pid")}
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (os.path.isfile(os.path.join(d, "trtexec")))]
    e["PATH"] = os.pathsep.join(([str(FAKE_TRTEXEC)] if path else []) + dirs)
    return e


def smoke(saved, model, *args, env=None):
    return run_cli("smoke", "--from", str(saved), "--force", "--backend", "tensorrt", "--model", str(model), "--format", "json", "--iterations", "3", "--warmup", "1", *args, env=env)


def calls(tmp_path) -> list[list[str]]:
    return [json.loads(x) for x in (tmp_path / "argv.jsonl").read_text().splitlines()]


# --- its output, read back ----------------------------------------------------------------------


def test_the_performance_summary_of_a_real_run_is_read():
    got = trtexec.parse(SUMMARY)
    assert got["throughput_qps"] == 130.298
    assert got["gpu_ms"] == {"min": 5.34595, "max": 13.3388, "mean": 7.58404, "median": 7.14139, "p90": 10.2881, "p95": 10.8175, "p99": 12.9485}
    assert got["latency_ms"]["median"] == 7.16092 and got["enqueue_ms"]["p99"] == 14.1848
    # an older trtexec printed only the 99th percentile (a TensorRT 8.2 log, WongKinYiu/yolov7#329)
    old = "[07/28/2022-16:00:55] [I] GPU Compute Time: min = 1.3476 ms, max = 1.5657 ms, mean = 1.38629 ms, median = 1.38037 ms, percentile(99%) = 1.55853 ms"
    assert trtexec.parse(old)["gpu_ms"] == {"min": 1.3476, "max": 1.5657, "mean": 1.38629, "median": 1.38037, "p99": 1.55853}
    assert trtexec.version(SUMMARY) == "10.2.0"
    assert trtexec.errors("[07/18/2023-14:17:05] [E] Parsing model failed\n[07/18/2023-14:17:05] [E] Engine set up failed\n&&&& FAILED x") == "Parsing model failed | Engine set up failed"


def test_command_lines_follow_the_profile_the_options_and_what_its_help_lists(tmp_path):
    ins, _ = describe(onnx.load(str(keras_nhwc(tmp_path / "k.onnx"))))
    prof = resolve(ins, 10)
    flags = trtexec.help_flags(str(FAKE_TRTEXEC / "trtexec"))
    assert {"--memPoolSize", "--fp16", "--stronglyTyped", "--useCudaGraph", "--noDataTransfers"} <= flags
    opts = {"iterations": 50, "workspace": 1024, "cuda_graph": True, "no_transfers": True}
    build = trtexec.command("trtexec", "/m/k.onnx", "best", False, flags, prof, {"input_1"}, {"input_1": (10, 16, 16, 3)}, opts, "/c/k.plan", False)
    assert build == [
        "trtexec",
        "--onnx=/m/k.onnx",
        "--minShapes=input_1:1x16x16x3",
        "--optShapes=input_1:10x16x16x3",
        "--maxShapes=input_1:20x16x16x3",
        "--shapes=input_1:10x16x16x3",
        "--fp16",
        "--int8",
        "--memPoolSize=workspace:1024",
        "--saveEngine=/c/k.plan",
        "--useCudaGraph",
        "--noDataTransfers",
        "--iterations=50",
    ]
    load = trtexec.command("trtexec", "/m/k.onnx", "best", False, flags, prof, {"input_1"}, {"input_1": (1, 16, 16, 3)}, {"iterations": 5}, "/c/k.plan", True)
    assert load == ["trtexec", "--loadEngine=/c/k.plan", "--shapes=input_1:1x16x16x3", "--iterations=5"]
    old = trtexec.command("trtexec", "/m/k.onnx", "fp16", False, {"--workspace", "--fp16"}, prof, {"input_1"}, {}, {"iterations": 5, "workspace": 64}, "/c/k.plan", False)
    assert "--workspace=64" in old and not any(a.startswith("--memPoolSize") for a in old)
    calib = trtexec.command("trtexec", "/m/k.onnx", "int8", False, flags, prof, set(), {}, {"iterations": 5, "calib_cache": "/c/calib.cache"}, "/c/k.plan", False)
    assert calib[2:4] == ["--int8", "--calib=/c/calib.cache"]  # our implicit calibration's scales
    assert not any(a.startswith("--calib") for a in trtexec.command("trtexec", "/m/k.onnx", "fp16", False, flags, prof, set(), {}, {"iterations": 5, "calib_cache": "/c/calib.cache"}, "/c/k.plan", False))
    typed = trtexec.command("trtexec", "/m/k16.onnx", "fp16", True, flags, prof, set(), {}, {"iterations": 5}, "/c/k.plan", False)
    assert typed == ["trtexec", "--onnx=/m/k16.onnx", "--stronglyTyped", "--saveEngine=/c/k.plan", "--iterations=5"]  # a static model: no shapes


# --- beside ours, through the CLI ---------------------------------------------------------------


def test_trtexec_runs_each_cell_beside_ours_and_its_figures_are_reported(saved, tmp_path):
    model = keras_nhwc(tmp_path / "k.onnx")
    cache = tmp_path / "engines"
    res = smoke(saved, model, "--precision", "fp16", "--batch", "2,4", "--workspace", "64", "--cuda-graph", "--engine-cache", str(cache), env=env(tmp_path))
    r = json.loads(res.stdout)
    from jsonschema import Draft202012Validator

    assert not list(Draft202012Validator(json.loads((REPO / "trtdoctor" / "schemas" / "smoke-1.json").read_text())).iter_errors(r))
    tx = r["trtexec"]
    assert tx["path"] == str(FAKE_TRTEXEC / "trtexec") and tx["version"] == "10.2.0"
    assert [(x["precision"], x["batch"], x["passed"]) for x in tx["runs"]] == [("fp16", 2, True), ("fp16", 4, True)]
    first, second = tx["runs"]
    engine = cache / "k-trtexec-fp16.plan"
    assert calls(tmp_path)[1:] == [first["command"][1:], second["command"][1:]]  # after its --help
    assert first["command"][1:] == [
        f"--onnx={model}",
        "--minShapes=input_1:1x16x16x3",
        "--optShapes=input_1:4x16x16x3",
        "--maxShapes=input_1:8x16x16x3",
        "--shapes=input_1:2x16x16x3",
        "--fp16",
        "--memPoolSize=workspace:64",
        f"--saveEngine={engine}",
        "--useCudaGraph",
        "--iterations=3",
    ]
    assert second["command"][1:] == [f"--loadEngine={engine}", "--shapes=input_1:4x16x16x3", "--useCudaGraph", "--iterations=3"]
    assert first["gpu_ms"]["median"] == 7.14139 and first["throughput_qps"] == 130.298 and second["throughput_items_per_s"] == pytest.approx(4 * 130.298)
    assert r["result"] == "FAIL" and r["reason"].startswith("every cell failed: cuda-python")  # trtexec's success is not ours
    text = smoke_text(r)
    assert "  trtexec 10.2.0 fp16 batch 4: GPU median 7.141 p90 10.288 p99 12.948 ms, 130.3 qps (521.2 items/s)" in text


def test_a_strongly_typed_tensorrt_gives_trtexec_the_same_fp16_and_qdq_graphs(saved, tmp_path):
    model = keras_nhwc(tmp_path / "k.onnx")
    cache = tmp_path / "engines"
    r = json.loads(smoke(saved, model, "--precision", "fp16,int8", "--engine-cache", str(cache), env=env(tmp_path, version="11.4.0.106")).stdout)
    fp16, int8 = r["trtexec"]["runs"]
    graph = cache / "k-trtexec-fp16.onnx"
    assert fp16["command"][1] == f"--onnx={graph}" and "--stronglyTyped" in fp16["command"] and "--fp16" not in fp16["command"]
    assert onnx.load(str(graph)).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    qdq = cache / "k-trtexec-int8.onnx"  # the Q/DQ model ours built INT8 from
    assert int8["command"][1] == f"--onnx={qdq}" and "--stronglyTyped" in int8["command"] and int8["passed"]
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(qdq)).graph.node)


def test_without_trtexec_there_is_no_key_and_one_note(saved, tmp_path):
    r = json.loads(smoke(saved, keras_nhwc(tmp_path / "k.onnx"), "--engine-cache", str(tmp_path / "e"), env=env(tmp_path, path=False)).stdout)
    assert "trtexec" not in r and r["notes"] == [trtexec.NOTE_ABSENT]
    off = json.loads(smoke(saved, keras_nhwc(tmp_path / "k.onnx"), "--no-trtexec", "--engine-cache", str(tmp_path / "e"), env=env(tmp_path)).stdout)
    assert "trtexec" not in off and "notes" not in off and not (tmp_path / "argv.jsonl").exists()


def test_a_failing_trtexec_gives_its_last_errors_as_its_own_reason(saved, tmp_path):
    r = json.loads(smoke(saved, keras_nhwc(tmp_path / "k.onnx"), "--engine-cache", str(tmp_path / "e"), env=env(tmp_path, mode="fail")).stdout)
    (run,) = r["trtexec"]["runs"]
    assert not run["passed"] and run["reason"] == "trtexec failed (exit 1): Parsing model failed | Failed to create engine from model or file. | Engine set up failed"
    assert r["reason"].startswith("cuda-python is not installed")  # the smoke's own reason stands


def test_a_hanging_trtexec_is_stopped_at_its_timeout(saved, tmp_path):
    t0 = time.monotonic()
    res = smoke(saved, keras_nhwc(tmp_path / "k.onnx"), "--trtexec-timeout", "2", "--engine-cache", str(tmp_path / "e"), env=env(tmp_path, mode="hang"))
    r = json.loads(res.stdout)
    (run,) = r["trtexec"]["runs"]
    assert not run["passed"] and run["reason"].startswith("trtexec did not finish within 2 s and was stopped")
    assert time.monotonic() - t0 < 60
    pid = int((tmp_path / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed, not left behind


def test_only_the_cache_our_implicit_calibration_used_goes_to_trtexec():
    from trtdoctor.smoke.runner import calibrated_cache

    assert calibrated_cache({"int8": {"mode": "implicit", "cache": "/c/calib.cache", "cache_written": True}}) == "/c/calib.cache"
    assert calibrated_cache({"int8": {"mode": "implicit", "cache": "/c/calib.cache", "cache_reused": True}}) == "/c/calib.cache"
    assert calibrated_cache({"int8": {"mode": "implicit", "cache": None, "cache_written": False}}) is None
    assert calibrated_cache({"int8": {"mode": "explicit", "cache": "/c/calib.cache"}}) is None  # the Q/DQ graph carries its scales
    assert calibrated_cache({}) is None
