"""`smoke --precision fp32,fp16 --batch 1,10,32` (issue 13, item 3): the lists as the command
line takes them, one engine per precision whose profile holds every batch, one row per cell,
a failed cell that does not stop the others, and the table. No GPU here: the builds run on the
named fake TensorRT (tests/fake_tensorrt), and where a device run is needed onnxruntime stands
in for it (the harness below says so); the CLI as a process otherwise."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, run_cli
from test_smoke_models import keras_nhwc

from trtdoctor.smoke.runner import smoke_text
from trtdoctor.smoke.sweep import parse_batches, parse_precisions

pytest.importorskip("onnxruntime")
FAKE = str(REPO / "tests" / "fake_tensorrt")


def fake_env(version="10.13.3.9"):
    return {**os.environ, "PYTHONPATH": FAKE, "FAKE_TRT_VERSION": version}


def smoke(saved, *args, env=None):
    return run_cli("smoke", "--from", str(saved), "--force", "--backend", "tensorrt", "--format", "json", "--iterations", "3", "--warmup", "1", *args, env=env)


def schema():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads((REPO / "trtdoctor" / "schemas" / "smoke-1.json").read_text()))


# --- the lists ---------------------------------------------------------------------------------


def test_batch_and_precision_lists():
    assert parse_batches("8") == [8] and parse_batches("1, 10,32") == [1, 10, 32]
    assert parse_precisions("fp32,FP16,int8") == ["fp32", "fp16", "int8"] and parse_precisions("best") == ["best"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--batch", "1,,x"], "an empty item in the batch list"),
        (["--batch", "1,x"], "expected whole numbers of at least 1, got 'x'"),
        (["--batch", "0"], "expected whole numbers of at least 1"),
        (["--batch", "8,8"], "names an item twice"),
        (["--precision", "fp32,fp64"], "unknown precision 'fp64'"),
        (["--precision", "fp16,"], "an empty item in the precision list"),
    ],
)
def test_bad_lists_are_one_line_and_exit_2(saved, args, words):
    res = smoke(saved, *args)
    assert res.returncode == 2 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and words in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


# --- the plan: one engine per precision, a profile that holds every batch ------------------------


def test_one_engine_per_precision_and_a_row_per_cell(saved, tmp_path):
    model = keras_nhwc(tmp_path / "effnet.onnx")
    cache = tmp_path / "engines"
    res = smoke(saved, "--model", str(model), "--precision", "fp32,fp16", "--batch", "1,10,32", "--engine-cache", str(cache), env=fake_env())
    assert res.returncode == 1, res.stderr
    r = json.loads(res.stdout)
    errors = [e.message[:200] for e in schema().iter_errors(r)]
    assert not errors, errors
    assert r["request"]["precisions"] == ["fp32", "fp16"] and r["request"]["batches"] == [1, 10, 32]
    assert (r["request"]["precision"], r["request"]["batch"]) == ("fp32", 1)  # today's keys: the first of each list
    assert sorted(p.name for p in cache.glob("*.plan")) == ["effnet-tensorrt-fp16.plan", "effnet-tensorrt-fp32.plan"]
    for prec in ("fp32", "fp16"):
        plan = json.loads((cache / f"effnet-tensorrt-{prec}.plan").read_bytes())
        assert plan["profiles"] == [{"input_1": [[1, 16, 16, 3], [32, 16, 16, 3], [64, 16, 16, 3]]}]
    assert [b["precision"] for b in r["builds"]] == ["fp32", "fp16"]
    assert [(x["precision"], x["batch"]) for x in r["runs"]] == [(p, b) for p in ("fp32", "fp16") for b in (1, 10, 32)]
    assert all(x["reason"].startswith("cuda-python is not installed") and x["engine_bytes"] > 0 for x in r["runs"])
    assert r["reason"].startswith("every cell failed: cuda-python is not installed")
    assert [b["batch"] for b in r["baselines"]] == [1, 10, 32] and r["baseline"] == {k: v for k, v in r["baselines"][0].items() if k != "batch"}
    assert "build" not in r  # a sweep's builds are in builds, the single-run keys are a single cell's


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--min-shapes", "input_1:1x16x16x3", "--opt-shapes", "input_1:8x16x16x3", "--max-shapes", "input_1:16x16x16x3"], "--batch 32 is outside the profile of 'input_1' (first dim 1…16"),
        (["--shapes", "input_1:4x16x16x3"], "--batch 1 is outside the profile of 'input_1' (first dim 4…4"),
    ],
)
def test_a_profile_that_misses_a_batch_of_the_sweep_is_one_line(saved, tmp_path, args, words):
    model = keras_nhwc(tmp_path / "k.onnx")
    res = smoke(saved, "--model", str(model), "--batch", "1,32", *args)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and words in res.stderr, res.stderr


def test_a_model_with_a_fixed_batch_cannot_sweep(saved, tmp_path):
    import onnx

    path = keras_nhwc(tmp_path / "k.onnx")
    m = onnx.load(str(path))
    for v in (m.graph.input[0], m.graph.output[0]):
        v.type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(m, str(path))
    res = smoke(saved, "--model", str(path), "--batch", "1,2")
    assert res.returncode == 2 and "no input of the model has a dynamic first dim" in res.stderr, res.stderr


# --- the cells, measured: onnxruntime stands in for the device run -------------------------------

HARNESS = r"""
import json, sys
import numpy as np
import onnx
from trtdoctor import engine, report
from trtdoctor.smoke import cuda_run, runner
from trtdoctor.smoke.backends import OrtBaseline

MODEL = onnx.load(sys.argv[3])

def run_engine(trt, engine_, feeds, outputs, iterations, warmup, no_transfers=False, cuda_graph=False, binding="auto", device=0):
    # No GPU here: onnxruntime computes the outputs; the fake engine's flags set steady GPU
    # times (FP16 twice as fast as FP32), so the rows' speed-ups are known.
    ys = OrtBaseline(MODEL).run({k: v.astype(np.float32) for k, v in feeds.items()})
    g = 0.5 if "FP16" in engine_["builder_flags"] else 1.0
    n = iterations
    return {"outputs": ys, "gpu_ms": [g] * n, "e2e_ms": [g + 0.5] * n, "enqueue_ms": [0.01] * n, "transfer_ms": [0.1] * n, "binding": "cuda-python", "cuda_graph": cuda_graph, "notes": []}

cuda_run.run_engine = run_engine
rep, findings = engine.recheck(report.load(sys.argv[1]))
if len(sys.argv) > 5:  # a GPU row for the precision table; no preflight findings to force past
    rep["snapshot"]["precision"] = json.loads(sys.argv[5])
    findings = []
opts = dict(model=sys.argv[3], backend="tensorrt", iterations=5, warmup=1, device=0, engine_cache=sys.argv[2], cuda_graph=False, no_transfers=False, force=True) | json.loads(sys.argv[4])
print(json.dumps(runner.smoke(rep, findings, opts), default=str))
"""


def measured(saved, tmp_path, version="10.13.3.9", precision_table=None, **opts):
    model = keras_nhwc(tmp_path / "k.onnx")
    env = {**os.environ, "PYTHONPATH": FAKE + os.pathsep + str(REPO), "FAKE_TRT_VERSION": version}
    extra = [json.dumps(precision_table)] if precision_table else []
    res = subprocess.run([sys.executable, "-c", HARNESS, str(saved), str(tmp_path / "engines"), str(model), json.dumps(opts), *extra], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_every_cell_measured_with_speedups_over_fp32_and_the_baseline(saved, tmp_path):
    r = measured(saved, tmp_path, precision="fp32", precisions=["fp32", "fp16"], batch=1, batches=[1, 4])
    assert r["result"] == "PASS", r.get("reason")
    assert not [e.message for e in schema().iter_errors(r)]
    rows = {(x["precision"], x["batch"]): x for x in r["runs"]}
    assert set(rows) == {("fp32", 1), ("fp32", 4), ("fp16", 1), ("fp16", 4)}
    assert rows[("fp16", 4)]["speedup_vs_fp32"] == pytest.approx(2.0) and rows[("fp32", 1)]["speedup_vs_fp32"] == pytest.approx(1.0)
    assert rows[("fp16", 4)]["throughput_items_per_s"] == pytest.approx(4 * 1e3 / 1.0)  # e2e 1.0 ms at batch 4
    for x in rows.values():
        assert x["accuracy"]["passed"] and x["accuracy"]["cosine"] > 0.999
        assert x["speedup_vs_baseline"] == pytest.approx(x["baseline_ms"] / x["e2e_ms"]["median"])
        assert x["build_seconds"] >= 0 and x["engine_bytes"] > 0


def test_a_cell_that_fails_to_build_is_a_row_and_the_others_still_run(saved, tmp_path):
    # TensorRT 11 has no calibrators: implicit INT8, asked for, is refused; fp32 still runs
    r = measured(saved, tmp_path, version="11.4.0.106", precision="fp32", precisions=["fp32", "int8"], batch=1, batches=[1, 2], quantization="implicit")
    assert r["result"] == "FAIL"
    ok = [x for x in r["runs"] if x["passed"]]
    bad = [x for x in r["runs"] if not x["passed"]]
    assert [(x["precision"], x["batch"]) for x in ok] == [("fp32", 1), ("fp32", 2)]
    assert [(x["precision"], x["batch"]) for x in bad] == [("int8", 1), ("int8", 2)] and all(x["reason"].startswith("--quantization implicit: ") for x in bad)
    assert r["reason"].startswith("2 of 4 cells failed; int8 batch 1: ") and [b["precision"] for b in r["builds"]] == ["fp32"]
    text = smoke_text(r)
    assert text.count("      ✗ ") == 2 and text.splitlines()[-1].startswith("FAIL: 2 of 4 cells failed")


P4 = {"tensorrt": "10.13.3.9", "gpus": [{"index": 0, "name": "Tesla P4", "compute_capability": "6.1", "support": {"fp32": True, "fp16": "slow", "int8": True}, "note": "no fast FP16"}]}


def test_a_refused_precision_is_its_rows_and_the_others_run(saved, tmp_path):
    r = measured(saved, tmp_path, precision_table=P4, force=False, precision="fp32", precisions=["fp32", "fp16"], batch=1, batches=[1, 2])
    rows = {(x["precision"], x["batch"]): x for x in r["runs"]}
    assert rows[("fp32", 1)]["passed"] and rows[("fp32", 2)]["passed"]
    assert rows[("fp16", 2)]["reason"] == "refused: FP16 on Tesla P4 (sm_61) runs far slower than FP32 (no fast FP16); pass --force to try anyway"
    assert [b["precision"] for b in r["builds"]] == ["fp32"] and r["result"] == "FAIL"
    alone = measured(saved, tmp_path, precision_table=P4, force=False, precision="fp16", batch=1)  # every precision refused: nothing built
    assert alone["reason"].startswith("refused: FP16 on Tesla P4") and "runs" not in alone


def test_int8_in_a_sweep_is_built_from_its_qdq_model_once(saved, tmp_path):
    r = measured(saved, tmp_path, version="11.4.0.106", precision="fp16", precisions=["fp16", "int8"], batch=1, batches=[1, 2])
    assert r["result"] == "PASS", r.get("reason")
    assert r["int8"]["mode"] == "explicit" and r["int8"]["accuracy"]["passed"]
    plan = json.loads((tmp_path / "engines" / "k-tensorrt-int8.plan").read_bytes())
    assert plan["qdq_nodes"] > 0 and [b["precision"] for b in r["builds"]] == ["fp16", "int8"]
    assert "int8: explicit quantization" in smoke_text(r)


def test_a_single_cell_keeps_todays_keys(saved, tmp_path):
    r = measured(saved, tmp_path, precision="fp16", batch=4)
    assert r["result"] == "PASS" and {"build", "validation", "benchmark"} <= set(r) and "baselines" not in r
    assert len(r["runs"]) == 1 and r["benchmark"]["gpu_ms"] == r["runs"][0]["gpu_ms"] and "precision" not in r["build"]
    assert r["validation"] == r["runs"][0]["accuracy"]


# --- the table ---------------------------------------------------------------------------------


def stats(median):
    return {"n": 5, "min": median, "mean": median, "median": median, "p90": median * 1.1, "p99": median * 1.2, "max": median * 1.3, "cv_percent": 0.0}


def test_the_table_is_aligned_and_says_why_a_cell_failed():
    acc = {"cosine": 0.99999, "top1_agreement": 1.0, "max_abs_error": 0.00123, "passed": True}
    good = {"passed": True, "gpu_ms": stats(1.5), "e2e_ms": stats(2.0), "throughput_items_per_s": 5000.0, "accuracy": acc, "engine_bytes": 3 << 20, "build_seconds": 12.3, "speedup_vs_baseline": 7.5, "warnings": []}
    r = {
        "request": {"backend": "tensorrt", "precision": "fp32", "batch": 1, "precisions": ["fp32", "int8"], "batches": [1, 32]},
        "stack": {"driver": "580.65.06", "cuda_driver": "13.0", "gpu": "NVIDIA H100", "compute_capability": "9.0", "tensorrt": "10.13.3.9"},
        "runs": [
            {"precision": "fp32", "batch": 1} | good | {"speedup_vs_fp32": 1.0},
            {"precision": "fp32", "batch": 32} | good | {"gpu_ms": stats(12.25), "speedup_vs_fp32": 1.0, "warnings": ["unstable: GPU compute coefficient of variation 3.0 % > 1 %"]},
            {"precision": "int8", "batch": 1, "passed": False, "reason": "refused: no INT8 here"},
            {"precision": "int8", "batch": 32, "passed": False, "reason": "refused: no INT8 here"},
        ],
        "result": "FAIL",
        "reason": "2 of 4 cells failed",
    }
    lines = smoke_text(r).splitlines()
    assert lines[0] == "trtdoctor smoke — tensorrt fp32,int8 batch 1,32"
    head = next(i for i, x in enumerate(lines) if x.split()[:3] == ["precision", "batch", "gpu"])
    rows = [lines[head]] + [x for x in lines[head + 1 :] if x.startswith("  ") and not x.startswith(("      ", "  ("))]
    assert len(rows) == 5 and len({len(x) for x in rows[:3]}) == 1  # measured rows end where the header does
    assert "12.250" in rows[2] and "3.0 MiB" in rows[1] and "7.50" in rows[1] and "0.99999" in rows[1]
    assert rows[3].split()[:3] == ["int8", "1", "—"]
    assert lines[lines.index(rows[3]) + 1].strip() == "✗ refused: no INT8 here"
    assert lines[lines.index(rows[4]) + 1].strip() == "✗ (the same as above)"  # an engine's reason, said once
    assert any(x.strip().startswith("! unstable") for x in lines)
    # the columns line up: each header title ends where its values do
    ends = [i for i, c in enumerate(rows[0]) if c != " " and (i + 1 == len(rows[0]) or rows[0][i + 1] == " ")]
    for row in rows[1:3]:
        assert all(row[i] != " " for i in ends[2:]), row


# --- the builder's log: warnings on success, --workspace, --verbose ------------------------------


def with_int64_weights(path):
    """The Keras-like model with its Flatten done as a Reshape by an INT64 shape, twice, as
    exporters write it: the weights TensorRT's parser warns of."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(keras_nhwc(path)))
    nodes = list(m.graph.node)
    i = next(k for k, n in enumerate(nodes) if n.op_type == "Flatten")
    nodes[i : i + 1] = [helper.make_node("Reshape", ["pool", "shape_a"], ["flat0"]), helper.make_node("Reshape", ["flat0", "shape_b"], ["flat"])]
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    m.graph.initializer.extend([numpy_helper.from_array(np.array([-1, 8], dtype=np.int64), "shape_a"), numpy_helper.from_array(np.array([-1, 8], dtype=np.int64), "shape_b")])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


INT64 = "Your ONNX model has been generated with INT64 weights, while TensorRT does not natively support INT64. Attempting to cast down to INT32."


def test_warnings_of_a_build_that_succeeds_are_reported_and_the_workspace_is_set(saved, tmp_path):
    model = with_int64_weights(tmp_path / "m.onnx")
    cache = tmp_path / "engines"
    res = smoke(saved, "--model", str(model), "--precision", "fp32", "--workspace", "256", "--engine-cache", str(cache), env=fake_env())
    r = json.loads(res.stdout)
    assert not [e.message for e in schema().iter_errors(r)]
    assert r["build"]["warnings"] == [{"message": f"onnx2trt_utils.cpp:198: {INT64}", "count": 2}]
    assert r["build"]["workspace_mib"] == 256 and r["request"]["workspace_mib"] == 256 and "log" not in r["build"]
    plan = json.loads((cache / "m-tensorrt-fp32.plan").read_bytes())
    assert plan["memory_pool_limits"] == {"WORKSPACE": 256 << 20}
    text = smoke(saved, "--model", str(model), "--precision", "fp32", "--format", "text", "--engine-cache", str(cache), env=fake_env())
    assert f"! build: TensorRT warned: onnx2trt_utils.cpp:198: {INT64} (×2)" in text.stdout
    assert text.stderr == ""  # INFO and VERBOSE stay quiet without --verbose
    assert json.loads((cache / "m-tensorrt-fp32.plan").read_bytes())["memory_pool_limits"] == {}  # no --workspace: TensorRT's default


def test_verbose_keeps_tensorrts_log_in_json_and_prints_it_to_stderr_in_text(saved, tmp_path):
    model = keras_nhwc(tmp_path / "k.onnx")
    res = smoke(saved, "--model", str(model), "--precision", "fp32", "--verbose", "--engine-cache", str(tmp_path / "e"), env=fake_env())
    log = json.loads(res.stdout)["build"]["log"]
    assert log == ["[I] [MemUsageChange] Init CUDA: CPU +2, GPU +0, now: CPU 19, GPU 423 (MiB)", "[V] Original: 7 layers"]
    text = smoke(saved, "--model", str(model), "--precision", "fp32", "--verbose", "--format", "text", "--engine-cache", str(tmp_path / "e"), env=fake_env())
    assert text.stderr.splitlines() == log and "[V] Original" not in text.stdout


def test_an_older_tensorrt_takes_the_workspace_as_max_workspace_size():
    from types import SimpleNamespace

    from trtdoctor.smoke.backends import set_workspace

    old = SimpleNamespace()  # a builder config without set_memory_pool_limit, as before memory pools
    set_workspace(SimpleNamespace(), old, 64 << 20)
    assert old.max_workspace_size == 64 << 20


def test_a_zero_workspace_is_one_line_and_exit_2(saved):
    res = smoke(saved, "--workspace", "0")
    assert res.returncode == 2 and "must be at least 1" in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("sweep", [("--batch", "1,8"), ("--precision", "fp32,fp16")])
def test_tensorflow_paths_take_one_precision_and_batch(saved, sweep):
    """Sweeps are built on the ONNX path; tf-trt says so in one line (exit 2), a single cell goes on."""
    res = run_cli("smoke", "--from", str(saved), "--force", "--backend", "tf-trt", "--format", "json", *sweep)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "take one of each" in res.stderr, res.stderr
    one = run_cli("smoke", "--from", str(saved), "--force", "--backend", "tf-trt", "--format", "json")
    assert one.returncode == 1 and "take one of each" not in one.stdout + one.stderr


def test_a_sweep_says_where_it_repeats_or_cuts_the_users_rows(saved, tmp_path):
    import numpy as np

    model = keras_nhwc(tmp_path / "k.onnx")
    data = tmp_path / "in.npz"
    np.savez(data, input_1=np.ones((10, 16, 16, 3), np.float32))
    r = json.loads(smoke(saved, "--model", str(model), "--input-data", str(data), "--batch", "1,10,32", "--precision", "fp32", "--engine-cache", str(tmp_path / "e"), env=fake_env()).stdout)
    said = [n for n in r["notes"] if n.startswith("--input-data")]
    assert said == ["--input-data holds 10 rows: batch 1 runs the first 1", "--input-data holds 10 rows: batch 32 repeats them"]
    one = json.loads(smoke(saved, "--model", str(model), "--input-data", str(data), "--batch", "10", "--precision", "fp32", "--engine-cache", str(tmp_path / "e"), env=fake_env()).stdout)
    assert not [n for n in one.get("notes", []) if n.startswith("--input-data")]
