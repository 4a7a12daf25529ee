"""The TF-TRT smoke's parent half without TensorFlow: the child protocol (a real child that
hangs, dies or prints junk), the converter's request and arguments, refusals, and the report
of a conversion. The real TensorFlow runs are in test_tensorflow_venv.py (marker tf)."""

import json
import sys

import numpy as np
import pytest
from conftest import run_cli, saved_report

from trtdoctor import knowledge
from trtdoctor.findings import Finding, Fix
from trtdoctor.smoke import runner, tf_child, tftrt
from trtdoctor.smoke.inputs import BadInput, TensorSpec, resolve

# --- the child protocol --------------------------------------------------------------------


def child(source: str, timeout: float = 20, request=None) -> tftrt.Answer:
    return tftrt.call_child(sys.executable, request or {"action": "describe"}, timeout, source=source)


def test_a_child_gets_the_request_and_each_json_line_is_a_stage():
    src = "import json, sys; r = json.loads(sys.argv[1]); print('TF chatter'); print(json.dumps({'stage': 'describe', 'got': r['model']})); print(json.dumps({'stage': 'baseline', 'ok': True}))"
    ans = child(src, request={"action": "describe", "model": "/m"})
    assert ans.error is None
    assert ans.stages == {"describe": {"stage": "describe", "got": "/m"}, "baseline": {"stage": "baseline", "ok": True}}


def test_a_child_that_hangs_is_cut_at_the_timeout_in_one_line():
    ans = child("import json, time; print(json.dumps({'stage': 'baseline'}), flush=True); time.sleep(30)", timeout=1)
    assert ans.error == "the TensorFlow child timed out after 1s (after baseline)"
    assert "baseline" in ans.stages  # what it finished is kept


def test_a_child_that_aborts_keeps_its_earlier_stages_and_says_how_it_died():
    src = "import json, os, sys; print(json.dumps({'stage': 'baseline', 'latency_ms': [1.0]}), flush=True); sys.stderr.write('F tensorflow/compiler/tf2tensorrt: TensorRT could not be loaded\\n'); sys.stderr.flush(); os.abort()"
    ans = child(src)
    assert ans.error.startswith("the TensorFlow child crashed with SIGABRT") and "\n" not in ans.error
    assert ans.stages["baseline"]["latency_ms"] == [1.0]
    assert ans.log == ["F tensorflow/compiler/tf2tensorrt: TensorRT could not be loaded"]


def test_a_child_that_prints_junk_or_nothing_is_one_line():
    assert child("print('hello'); print('{not json')").error == "the TensorFlow child printed no result (its last line: '{not json')"
    assert child("pass").error == "the TensorFlow child printed no result (its last line: 'nothing')"
    assert child("print('[1, 2]')").error.startswith("the TensorFlow child printed no result")


def test_a_stage_that_fails_ends_the_answer_with_its_error():
    ans = child("import json; print(json.dumps({'stage': 'convert', 'error': 'RuntimeError: Tensorflow has not been built with TensorRT support.'}))")
    assert ans.error == "convert: RuntimeError: Tensorflow has not been built with TensorRT support."


def test_the_real_child_source_reports_a_stage_error_not_a_traceback(tmp_path):
    """tf_child.py itself, without TensorFlow: the baseline stage fails on a missing feeds file."""
    req = {"action": "run", "model_dir": str(tmp_path), "signature": "serving_default", "feeds": str(tmp_path / "none.npz"), "work": str(tmp_path), "iterations": 1, "warmup": 0}
    ans = tftrt.call_child(sys.executable, req, 60)
    assert list(ans.stages) == ["baseline"] and ans.error.startswith("baseline: ")
    assert not any("Traceback" in line for line in ans.log)


# --- TensorRT checked before TF is asked --------------------------------------------------------


def test_trt_check_dlopens_each_soname_and_names_the_missing_one():
    assert tf_child.trt_check(["libc.so.6"]) == {"ok": True}
    bad = tf_child.trt_check(["libc.so.6", "libnvinfer.so.0.trtdoctor-absent"])
    assert bad["ok"] is False and bad["missing"] == "libnvinfer.so.0.trtdoctor-absent" and "cannot open shared object file" in bad["error"]
    assert tf_child.trt_check([])["ok"] is False  # unknown: never guess, never ask TF


# --- the converter's arguments ---------------------------------------------------------------

PARAMS = {"precision_mode", "max_workspace_size_bytes", "minimum_segment_size", "use_calibration", "maximum_cached_engines", "allow_build_at_runtime"}
INIT = {"self", "input_saved_model_dir", "conversion_params", "use_dynamic_shape", "dynamic_shape_profile_strategy"}


def conv_req(**kw):
    return {"convert": {"precision": "fp16", "profile": {"x": [[1, 4], [8, 4], [16, 4]]}} | kw}


def test_converter_kwargs_for_fp16_workspace_and_min_segment_size():
    params, init, dropped = tf_child.converter_kwargs(conv_req(workspace_bytes=64 << 20, min_segment_size=5), PARAMS, INIT)
    assert params == {"precision_mode": "FP16", "max_workspace_size_bytes": 64 << 20, "minimum_segment_size": 5, "use_calibration": False, "maximum_cached_engines": 1}
    assert init == {"use_dynamic_shape": True, "dynamic_shape_profile_strategy": "Range+Optimal"}
    assert dropped == []


def test_converter_kwargs_for_int8_and_tf_defaults_when_not_asked():
    params, _, _ = tf_child.converter_kwargs(conv_req(precision="int8"), PARAMS, INIT)
    assert params == {"precision_mode": "INT8", "use_calibration": True, "maximum_cached_engines": 1}


def test_arguments_an_older_tf_lacks_are_dropped_and_said():
    params, init, dropped = tf_child.converter_kwargs(conv_req(workspace_bytes=1 << 20), PARAMS - {"max_workspace_size_bytes"}, {"self", "conversion_params"})
    assert "max_workspace_size_bytes" not in params and init == {}
    assert dropped == ["dynamic_shape_profile_strategy", "max_workspace_size_bytes", "use_dynamic_shape"]


def test_build_feeds_cover_min_opt_max_and_calibration_reads_the_npz(tmp_path):
    specs = [{"name": "x", "dtype": "float32"}]
    shapes = tf_child.shape_feeds(specs, {"x": [[1, 4], [8, 4], [16, 4]]})
    assert [f["x"].shape for f in shapes] == [(1, 4), (8, 4), (16, 4)]
    np.savez(tmp_path / "c.npz", x=np.ones((20, 4), np.float64))
    batches, synthetic = tf_child.calibration_batches({"convert": {"calib": [str(tmp_path / "c.npz")]}}, specs, {"x": [8, 4]})
    assert synthetic is False and [b["x"].shape for b in batches] == [(8, 4), (8, 4), (4, 4)] and batches[0]["x"].dtype == np.float32
    assert tf_child.calibration_batches({"convert": {"calib": []}}, specs, {"x": [8, 4]})[1] is True


def opts(**kw):
    base = {"precision": "fp16", "model": "reference", "batch": 8, "iterations": 5, "warmup": 1, "device": 0, "workspace": None, "min_segment_size": None, "calib_data": None}
    return base | kw


def test_the_run_request_carries_precision_workspace_segments_profile_and_sonames(tmp_path):
    specs = [TensorSpec("input", "float32", (None, 32, 32, 3))]
    prof = resolve(specs, 8)
    req = tftrt.run_request(
        opts(workspace=256, min_segment_size=4), {"model_dir": "/m", "signature": "serving_default"}, specs, prof, {"input": np.zeros((8, 32, 32, 3), np.float32)}, str(tmp_path), ["libnvinfer.so.X"], tmp_path
    )
    c = req["convert"]
    assert (c["precision"], c["workspace_bytes"], c["min_segment_size"], c["trt_sonames"]) == ("fp16", 256 << 20, 4, ["libnvinfer.so.X"])
    assert c["profile"] == {"input": [[1, 32, 32, 3], [8, 32, 32, 3], [16, 32, 32, 3]]}
    assert c["out"] == str(tmp_path / "tftrt-reference-fp16") and (tmp_path / "feeds.npz").is_file()
    assert json.loads(json.dumps(req)) == req  # it goes to the child as JSON


def test_int8_calibration_files_are_checked_before_tf_starts(tmp_path):
    specs = [TensorSpec("input", "float32", (None, 4))]
    prof = resolve(specs, 2)
    np.savez(tmp_path / "a.npz", input=np.ones((10, 4), np.float32))
    np.savez(tmp_path / "b.npz", other=np.ones((10, 4), np.float32))
    assert tftrt.calib_files(str(tmp_path / "a.npz"), specs, prof) == [str(tmp_path / "a.npz")]
    with pytest.raises(BadInput, match="--calib-data lacks input"):
        tftrt.calib_files(str(tmp_path), specs, prof)  # the folder holds b.npz too
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput, match="no .npz files"):
        tftrt.calib_files(str(tmp_path / "empty"), specs, prof)


# --- which TensorFlow, and refusals ------------------------------------------------------------


def test_sonames_come_from_the_checks_needed_list_else_the_kb():
    inst = {"version": "2.17.1", "site_packages": "/sp"}
    snap = {"libraries": {"consumers": [{"site_packages": "/sp", "role": "tensorflow", "needs": ["libnvinfer.so.8.6.1", "libcudart.so.12"]}]}}
    assert tftrt.trt_sonames(snap, inst) == ["libnvinfer.so.8.6.1"]
    assert tftrt.trt_sonames({}, inst) == knowledge.tf_release("2.17.1")["trt_sonames"]


def test_a_tf_after_the_last_tftrt_release_is_refused_with_what_works():
    last = knowledge.tftrt_release()
    why = tftrt.refusal({"version": "2.18.0", "site_packages": "/sp", "python": "/py"}, "tf-trt")
    assert "TensorFlow 2.18.0 (/sp) has no TF-TRT" in why and f"TensorFlow ≤ {last['series']}" in why
    assert "nvcr.io/nvidia/tensorflow:" in why and f"tensorflow=={last['pip']}" in why
    assert tftrt.refusal({"version": "2.18.0", "site_packages": "/sp"}, "tensorrt") is None  # tf2onnx still works
    assert tftrt.refusal({"version": "2.17.1", "site_packages": "/sp"}, "tf-trt") is None
    assert "no TensorFlow install" in tftrt.refusal(None, "tf-trt")


def fake_tf_report(tmp_path, version):
    rep = json.loads(saved_report(tmp_path / "r.json", []).read_text())
    rep["snapshot"]["tensorflow"] = {"installs": [{"package": "tensorflow", "version": version, "site_packages": str(tmp_path), "python": sys.executable, "python_version": None, "build_info": {}, "kb": None}]}
    (tmp_path / "r.json").write_text(json.dumps(rep))
    return tmp_path / "r.json"


def test_smoke_refuses_tf_218_even_with_force_before_starting_tf(tmp_path):
    res = run_cli("smoke", "--from", str(fake_tf_report(tmp_path, "2.18.0")), "--backend", "tf-trt", "--force", "--format", "json")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    r = json.loads(res.stdout)
    assert r["reason"].startswith("refused: TensorFlow 2.18.0") and "baseline" not in r and "tensorflow" not in r


def test_tf_trt_takes_no_best_precision(tmp_path):
    res = run_cli("smoke", "--from", str(fake_tf_report(tmp_path, "2.17.1")), "--backend", "tf-trt", "--precision", "best", "--force")
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0 and "TF-TRT takes fp32, fp16, int8" in res.stderr


def test_a_folder_that_is_no_savedmodel_is_a_usage_error(tmp_path):
    res = run_cli("smoke", "--from", str(saved_report(tmp_path / "r.json", [])), "--force", "--backend", "tensorrt", "--model", str(tmp_path))
    assert res.returncode == 2 and "no SavedModel (no saved_model.pb in it)" in res.stderr and res.stderr.strip().count("\n") == 0


def test_auto_picks_tf_trt_for_a_savedmodel_where_tf_has_it(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"")
    snap = {"tensorflow": {"installs": [{"version": "2.17.1", "site_packages": "/sp", "python": "/py"}]}}
    assert runner.choose_backend("auto", snap, str(tmp_path)) == "tf-trt"
    snap["tensorflow"]["installs"][0]["version"] = "2.18.0"
    assert runner.choose_backend("auto", snap, str(tmp_path)) == "tensorrt"
    assert tftrt.handles("tensorrt", str(tmp_path)) and tftrt.handles("tf-trt", "reference") and not tftrt.handles("tensorrt", "reference")


# --- the report of a conversion (what a GPU with TF-TRT's TensorRT would give) ----------------------


def test_a_conversion_reports_speedup_and_accuracy_against_tensorflow(tmp_path):
    ref = np.random.default_rng(0).standard_normal((8, 10)).astype(np.float32)
    np.savez(tmp_path / "b.npz", logits=ref)
    np.savez(tmp_path / "t.npz", logits=ref + 1e-4)
    ans = tftrt.Answer(
        stages={
            "baseline": {"stage": "baseline", "device": "/GPU:0", "placed_on": "/device:GPU:0", "latency_ms": [4.0] * 5, "outputs": str(tmp_path / "b.npz")},
            "trt_check": {"stage": "trt_check", "ok": True},
            "convert": {
                "stage": "convert",
                "convert_s": 1.23456,
                "build_s": 2.0,
                "saved": "/c",
                "params": {"precision_mode": "FP16"},
                "dropped": [],
                "trt_engine_ops": 1,
                "latency_ms": [1.0] * 5,
                "outputs": str(tmp_path / "t.npz"),
            },
        }
    )
    out = {"request": {"backend": "tf-trt"}, "tensorflow": {"version": "2.17.1"}, "result": "FAIL"}
    req = {"convert": {"precision": "fp16", "trt_sonames": ["libnvinfer.so.8.6.1"], "calib": []}}
    r = tftrt._report(out, ans, opts(), [], req, {"input": np.zeros((8, 3))})
    assert r["result"] == "PASS" and r["baseline"]["name"] == "tensorflow-gpu"
    assert r["tftrt"]["speedup_vs_baseline"] == 4.0 and r["tftrt"]["convert_s"] == 1.235 and r["tftrt"]["throughput_items_per_s"] == 8000.0
    assert r["validation"]["passed"] and r["validation"]["max_abs_error"] < 1e-3
    assert any("TF-TRT FP16: convert 1.235 s" in line for line in tftrt.summary_lines(r))


def test_a_failed_dlopen_becomes_the_checks_diagnosis_and_fix():
    f = Finding("tensorflow.tensorrt-not-loadable", "error", "tensorflow", "t", "", [], Fix("x", ["pip install tensorrt==X"]))
    d = tftrt.diagnosis({"ok": False, "missing": "libnvinfer.so.8.6.1", "error": "libnvinfer.so.8.6.1: cannot open shared object file"}, [f])
    assert d["library"] == "libnvinfer.so.8.6.1" and d["finding"] == "tensorflow.tensorrt-not-loadable" and d["fix"] == "pip install tensorrt==X"
    assert tftrt.diagnosis({"ok": False, "error": "unknown"}, [])["fix"].startswith("TF-TRT works with TensorFlow ≤")


def test_tf_trt_takes_only_a_savedmodel(tmp_path):
    res = run_cli("smoke", "--from", str(fake_tf_report(tmp_path, "2.17.1")), "--backend", "tf-trt", "--force", "--model", str(tmp_path))
    assert res.returncode == 2 and "TF-TRT takes a SavedModel folder" in res.stderr and res.stderr.strip().count("\n") == 0


def test_tf2onnx_names_map_back_to_the_signatures():
    assert [tftrt.tf_name(n) for n in ("input:0", "input", "a:b:1", "x:y")] == ["input", "input", "a:b", "x:y"]


def test_the_text_report_gives_tf_baseline_tf2onnx_accuracy_and_speedup():
    lat = {"median": 4.0, "p90": 5.0, "p99": 6.0}
    r = {
        "tensorflow": {
            "version": "v",
            "python": "/py",
            "model_dir": "/m",
            "signature": "s",
            "onnx": "/m.onnx",
            "baseline": {"name": "tensorflow-gpu", "latency_ms": lat},
            "speedup_vs_tensorflow": 8.0,
            "onnx_accuracy": {"max_abs_error": 1e-6, "cosine": 1.0, "passed": True},
        }
    }
    text = "\n".join(tftrt.summary_lines(r))
    assert "tensorflow-gpu: median 4.000 p90 5.000 p99 6.000 ms, TensorRT 8.0× faster" in text and "onnxruntime vs TensorFlow max abs 1e-06" in text


def test_a_converted_model_replaces_only_a_folder_trtdoctor_wrote(tmp_path):
    dest, theirs = tmp_path / "tftrt-reference-fp16", tmp_path / "theirs"
    for i in range(2):  # the second run replaces the first
        new = tmp_path / f"new{i}"
        new.mkdir()
        (new / "saved_model.pb").write_text(str(i))
        tf_child.replace_dir(str(new), str(dest))
    assert (dest / "saved_model.pb").read_text() == "1" and (dest / tf_child.MARK).is_file() and not (tmp_path / "new1").exists()
    theirs.mkdir()
    (theirs / "keep").write_text("mine")
    (tmp_path / "new2").mkdir()
    with pytest.raises(FileExistsError, match="not written by trtdoctor"):
        tf_child.replace_dir(str(tmp_path / "new2"), str(theirs))
    assert (theirs / "keep").read_text() == "mine" and not (tmp_path / "new2").exists()


def test_a_string_input_is_a_usage_error_not_a_crash():
    with pytest.raises(BadInput, match="'text' is a string tensor"):
        tftrt._tensor({"name": "text", "dtype": "string", "dims": [None]})


def test_fp16_on_a_gpu_without_fast_fp16_is_refused_for_tf_trt_before_tf_starts(tmp_path):
    path = fake_tf_report(tmp_path, "2.17.1")
    rep = json.loads(path.read_text())
    row = {"index": 0, "name": "Tesla P40", "compute_capability": "6.1", "support": {"fp16": "slow"}, "note": "FP16 at 1/64 rate", "tensorrt": None, "request_by": {}}
    rep["snapshot"]["precision"] = {"gpus": [row], "tensorrt": None}
    path.write_text(json.dumps(rep))
    res = run_cli("smoke", "--from", str(path), "--backend", "tf-trt", "--precision", "fp16", "--format", "json")
    r = json.loads(res.stdout)
    assert res.returncode == 1 and r["reason"].startswith("refused: FP16 on Tesla P40 (sm_61) runs far slower than FP32") and "tensorflow" not in r


def test_a_converter_that_fails_past_the_dlopen_check_still_names_the_fix(tmp_path):
    np.savez(tmp_path / "b.npz", logits=np.zeros((2, 10), np.float32))
    ans = tftrt.Answer(
        stages={
            "baseline": {"stage": "baseline", "device": "/CPU:0", "placed_on": "CPU:0", "latency_ms": [1.0], "outputs": str(tmp_path / "b.npz")},
            "trt_check": {"stage": "trt_check", "ok": True},
            "convert": {"stage": "convert", "error": "RuntimeError: Tensorflow has not been built with TensorRT support."},
        },
        error="convert: RuntimeError: Tensorflow has not been built with TensorRT support.",
    )
    f = Finding("tensorflow.tensorrt-not-loadable", "error", "tensorflow", "t", "", [], Fix("x", ["pip install tensorrt==X"]))
    out = {"request": {"backend": "tf-trt"}, "tensorflow": {"version": "2.17.1", "tftrt_enabled": False}, "result": "FAIL"}
    r = tftrt._report(out, ans, opts(), [f], {"convert": {"precision": "fp16", "trt_sonames": [], "calib": []}}, {"input": np.zeros((2, 3))})
    assert r["reason"] == "TF-TRT: TensorFlow 2.17.1 reports TF-TRT not enabled; convert: RuntimeError: Tensorflow has not been built with TensorRT support.; fix: pip install tensorrt==X"
    assert r["tftrt"]["diagnosis"]["finding"] == "tensorflow.tensorrt-not-loadable" and r["baseline"]["name"] == "tensorflow-cpu"
