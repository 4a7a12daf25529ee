"""`trtdoctor smoke` on the user's own ONNX model (issue 13): names, dtypes and dims read from
the graph, trtexec's shape grammar, several inputs, integer and boolean inputs, --input-data,
one-line refusals of bad models and shapes. Real ONNX models made here with onnx.helper, real
onnxruntime, the CLI as a process."""

import json
import os

import numpy as np
import pytest
from conftest import REPO, run_cli

from trtdoctor.smoke.inputs import BadInput, describe, parse_shapes, random_feeds, resolve, user_feeds

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

FAKE = str(REPO / "tests" / "fake_tensorrt")


def _save(model, path):
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def keras_nhwc(path, name="input_1"):
    """As tf2onnx writes a Keras image model: NHWC input ``input_1`` with a symbolic batch
    (``unk__0``), a Transpose to NCHW, a conv, pooling and a dense head."""
    rng = np.random.default_rng(3)
    inits = [
        numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3, "conv.w"),
        numpy_helper.from_array(rng.standard_normal((8, 5)).astype(np.float32), "dense.w"),
        numpy_helper.from_array(rng.standard_normal(5).astype(np.float32) * 0.1, "dense.b"),
    ]
    nodes = [
        helper.make_node("Transpose", [name], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "conv.w"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"]),
        helper.make_node("MatMul", ["flat", "dense.w"], ["mm"]),
        helper.make_node("Add", ["mm", "dense.b"], ["predictions"]),
    ]
    graph = helper.make_graph(
        nodes,
        "keras_like",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["unk__0", 16, 16, 3])],
        [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, ["unk__0", 5])],
        inits,
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def multi_input(path):
    """Three inputs of three dtypes: a float image, int64 ids and a boolean mask."""
    nodes = [
        helper.make_node("GlobalAveragePool", ["image"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"]),
        helper.make_node("Cast", ["ids"], ["idsf"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["idsf", "maskf"], ["masked"]),
        helper.make_node("Concat", ["flat", "masked"], ["scores"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "multi",
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 8, 8]),
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 4]),
            helper.make_tensor_value_info("mask", TensorProto.BOOL, ["N", 4]),
        ],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 7])],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def token_model(path):
    """int64 token ids with a dynamic sequence length: an embedding and a mean."""
    emb = np.random.default_rng(4).standard_normal((16, 6)).astype(np.float32)
    nodes = [helper.make_node("Gather", ["emb", "input_ids"], ["e"]), helper.make_node("ReduceMean", ["e"], ["pooled"], axes=[1], keepdims=0)]
    graph = helper.make_graph(
        nodes,
        "tokens",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", 6])],
        [numpy_helper.from_array(emb, "emb")],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def smoke(saved, *args, env=None):
    return run_cli("smoke", "--from", str(saved), "--force", "--backend", "tensorrt", "--format", "json", "--iterations", "3", "--warmup", "1", *args, env=env)


# --- the graph, read -----------------------------------------------------------------------


def test_inputs_outputs_dtypes_and_dims_come_from_the_graph(tmp_path):
    ins, outs = describe(onnx.load(str(multi_input(tmp_path / "m.onnx"))))
    assert [(s.name, s.dtype, s.dims) for s in ins] == [("image", "float32", ("N", 3, 8, 8)), ("ids", "int64", ("N", 4)), ("mask", "bool", ("N", 4))]
    assert [(s.name, s.dims) for s in outs] == [("scores", ("N", 7))]
    k_in, k_out = describe(onnx.load(str(keras_nhwc(tmp_path / "k.onnx"))))
    assert [(s.name, s.dims, s.dynamic) for s in k_in] == [("input_1", ("unk__0", 16, 16, 3), [0])]
    assert k_out[0].name == "predictions"


def test_initializers_listed_as_inputs_are_not_fed(tmp_path):
    m = onnx.load(str(token_model(tmp_path / "t.onnx")))
    m.graph.input.append(helper.make_tensor_value_info("emb", TensorProto.FLOAT, [16, 6]))  # old exporters did this
    assert [s.name for s in describe(m)[0]] == ["input_ids"]


def test_trtexec_shape_grammar():
    assert parse_shapes("input_1:1x384x384x3") == {"input_1": (1, 384, 384, 3)}
    assert parse_shapes("a:1x3, b:2x4") == {"a": (1, 3), "b": (2, 4)}
    assert parse_shapes("'x:0':8x3") == {"x:0": (8, 3)}  # TF names hold colons; trtexec quotes them
    for bad in ("input_1", "input_1:1x?x3", ":1x3", "a:0x3", "a:1,a:2"):
        with pytest.raises(BadInput):
            parse_shapes(bad)


def test_default_profile_is_1_batch_2batch_on_the_dynamic_batch_only(tmp_path):
    ins, _ = describe(onnx.load(str(keras_nhwc(tmp_path / "k.onnx"))))
    assert resolve(ins, 10).shapes == {"input_1": ((1, 16, 16, 3), (10, 16, 16, 3), (20, 16, 16, 3))}


def test_min_opt_max_give_a_1_10_32_profile_and_shapes_fixes_one(tmp_path):
    ins, _ = describe(onnx.load(str(keras_nhwc(tmp_path / "k.onnx"))))
    p = resolve(ins, 8, mins=parse_shapes("input_1:1x16x16x3"), opts=parse_shapes("input_1:10x16x16x3"), maxs=parse_shapes("input_1:32x16x16x3"))
    assert p.to_dict() == {"input_1": {"min": [1, 16, 16, 3], "opt": [10, 16, 16, 3], "max": [32, 16, 16, 3]}}
    assert resolve(ins, 8, shapes=parse_shapes("input_1:4x16x16x3")).opt() == {"input_1": (4, 16, 16, 3)}


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"shapes": "input_1:1x3x16x16"}, "fixed at 16"),  # NCHW given for an NHWC model
        ({"shapes": "input_1:1x16x16"}, "rank 4"),
        ({"shapes": "input:1x16x16x3"}, "no input of the model (inputs: input_1)"),
        ({"mins": "input_1:1x16x16x3", "opts": "input_1:10x16x16x3"}, "all three"),
        ({"mins": "input_1:8x16x16x3", "opts": "input_1:4x16x16x3", "maxs": "input_1:32x16x16x3"}, "must hold"),
    ],
)
def test_shapes_that_do_not_fit_the_model_are_refused(tmp_path, kw, words):
    ins, _ = describe(onnx.load(str(keras_nhwc(tmp_path / "k.onnx"))))
    with pytest.raises(BadInput, match=words.replace("(", r"\(").replace(")", r"\)")):
        resolve(ins, 8, **{k: parse_shapes(v) for k, v in kw.items()})


def test_a_dynamic_inner_dim_needs_shapes(tmp_path):
    ins, _ = describe(onnx.load(str(token_model(tmp_path / "t.onnx"))))
    with pytest.raises(BadInput, match=r"'input_ids' dim 1 is dynamic \(sequence\); give its size, e.g. --shapes input_ids:8x224"):
        resolve(ins, 8)
    assert resolve(ins, 8, shapes={"input_ids": (2, 16)}).opt() == {"input_ids": (2, 16)}


def test_random_feeds_have_each_inputs_dtype_and_run_on_onnxruntime(tmp_path):
    path = multi_input(tmp_path / "m.onnx")
    ins, _ = describe(onnx.load(str(path)))
    feeds = random_feeds(ins, resolve(ins, 3).opt())
    assert {k: (v.dtype.name, v.shape) for k, v in feeds.items()} == {"image": ("float32", (3, 3, 8, 8)), "ids": ("int64", (3, 4)), "mask": ("bool", (3, 4))}
    assert feeds["mask"].any() and not feeds["mask"].all()
    y = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert y.shape == (3, 7)
    np.testing.assert_array_equal(random_feeds(ins, resolve(ins, 3).opt())["image"], feeds["image"])  # seeded


def test_user_feeds_are_cast_and_checked_against_the_profile(tmp_path):
    ins, _ = describe(onnx.load(str(multi_input(tmp_path / "m.onnx"))))
    prof = resolve(ins, 2)
    good = {"image": np.ones((3, 3, 8, 8)), "ids": np.arange(12).reshape(3, 4).astype(np.int32), "mask": np.ones((3, 4), dtype=bool)}
    feeds = user_feeds(ins, prof, good)
    assert feeds["image"].dtype == np.float32 and feeds["ids"].dtype == np.int64
    with pytest.raises(BadInput, match="lacks mask"):
        user_feeds(ins, prof, {k: v for k, v in good.items() if k != "mask"})
    with pytest.raises(BadInput, match="outside the profile 1x3x8x8 … 4x3x8x8"):
        user_feeds(ins, prof, good | {"image": np.ones((5, 3, 8, 8))})
    with pytest.raises(BadInput, match="holds floats"):
        user_feeds(ins, prof, good | {"ids": np.ones((3, 4))})


# --- the CLI, as a user runs it --------------------------------------------------------------


def test_keras_nhwc_model_with_a_1_10_32_profile_runs_to_where_tensorrt_is_needed(saved, tmp_path):
    path = keras_nhwc(tmp_path / "effnet.onnx")
    res = smoke(saved, "--model", str(path), "--min-shapes", "input_1:1x16x16x3", "--opt-shapes", "input_1:10x16x16x3", "--max-shapes", "input_1:32x16x16x3")
    assert res.returncode == 1, res.stderr
    r = json.loads(res.stdout)
    assert r["model"]["inputs"] == [{"name": "input_1", "dtype": "float32", "dims": ["unk__0", 16, 16, 3]}]
    assert r["model"]["outputs"][0]["name"] == "predictions"
    assert r["model"]["profile"]["input_1"]["opt"] == [10, 16, 16, 3]
    assert r["baseline"]["name"] == "onnxruntime-cpu" and r["baseline"]["latency_ms"]["n"] >= 3
    assert r["reason"].startswith("tensorrt is not usable")
    assert "internal error" not in res.stderr


def test_fake_tensorrt_builds_the_users_profile_for_every_input(saved, tmp_path):
    path = multi_input(tmp_path / "multi.onnx")
    env = {**os.environ, "PYTHONPATH": FAKE, "FAKE_TRT_VERSION": "10.13.3.9"}
    cache = tmp_path / "engines"
    res = smoke(saved, "--model", str(path), "--precision", "fp32", "--batch", "10", "--engine-cache", str(cache), env=env)
    r = json.loads(res.stdout)
    assert "internal error" not in res.stderr, res.stderr
    plan = json.loads((cache / "multi-tensorrt-fp32.plan").read_bytes())
    assert plan["profiles"] == [{"image": [[1, 3, 8, 8], [10, 3, 8, 8], [20, 3, 8, 8]], "ids": [[1, 4], [10, 4], [20, 4]], "mask": [[1, 4], [10, 4], [20, 4]]}]
    assert r["build"]["engine"].endswith("multi-tensorrt-fp32.plan")
    assert r["reason"].startswith("cuda-python is not installed")  # was "No module named 'cuda'", an internal error


def test_input_data_npz_is_what_runs(saved, tmp_path):
    path = token_model(tmp_path / "tok.onnx")
    data = tmp_path / "in.npz"
    np.savez(data, input_ids=np.array([[1, 2, 3, 4, 5]], dtype=np.int64))
    res = smoke(saved, "--model", str(path), "--min-shapes", "input_ids:1x1", "--opt-shapes", "input_ids:1x5", "--max-shapes", "input_ids:4x64", "--input-data", str(data))
    r = json.loads(res.stdout)
    assert r["model"]["feeds"] == str(data) and "baseline" in r


@pytest.mark.parametrize(
    ("make", "args", "words"),
    [
        ("junk", [], "is not a valid ONNX model"),
        ("missing", [], "no such file"),
        ("keras", ["--shapes", "input_1:1x3x16x16"], "dim 1 is fixed at 16 in the model, but 3 was given"),
        ("keras", ["--shapes", "input_1:1x16x16x3", "--opt-shapes", "x:1"], "names 'x', which is no input"),
        ("keras", ["--shapes", "input_1"], "expected NAME:DIMxDIM"),
        ("tokens", [], "dim 1 is dynamic"),
        ("keras", ["--input-data", "BADNPZ"], "not a readable .npz"),
    ],
)
def test_bad_models_shapes_and_data_are_one_line_and_exit_2(saved, tmp_path, make, args, words):
    path = {"junk": tmp_path / "junk.onnx", "missing": tmp_path / "nope.onnx", "keras": tmp_path / "k.onnx", "tokens": tmp_path / "t.onnx"}[make]
    if make == "junk":
        path.write_bytes(b"\x00not a protobuf at all" * 10)
    elif make == "keras":
        keras_nhwc(path)
    elif make == "tokens":
        token_model(path)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK junk")
    res = smoke(saved, "--model", str(path), *[str(bad) if a == "BADNPZ" else a for a in args])
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stdout == "" and len(res.stderr.strip().splitlines()) == 1 and words in res.stderr
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr


# --- --export: what TensorRT would build from, without TensorRT -------------------------------


def smoke_schema():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads((REPO / "trtdoctor" / "schemas" / "smoke-1.json").read_text()))


def export(saved, *args, env=None):
    """No --force: a machine with no driver and no TensorRT may still export."""
    return run_cli("smoke", "--from", str(saved), "--format", "json", *args, env=env)


def calib_npz(path, n=32, seed=9):
    from trtdoctor.smoke.model import sample_inputs

    np.savez(path, input=sample_inputs(n, seed=seed))
    return path


def test_export_writes_fp32_fp16_and_a_symmetric_per_channel_qdq_int8_model(saved, tmp_path):
    pytest.importorskip("onnxconverter_common")
    out = tmp_path / "exp"
    res = export(saved, "--export", str(out), "--precision", "best", "--calib-data", str(calib_npz(tmp_path / "calib.npz")))
    assert res.returncode == 0, res.stdout + res.stderr
    r = json.loads(res.stdout)
    errors = [e.message for e in smoke_schema().iter_errors(r)]
    assert not errors, errors[:3]
    man = r["export"]
    assert json.loads((out / "manifest.json").read_text()) == man
    assert [f["path"] for f in man["files"]] == ["model.fp32.onnx", "model.fp16.onnx", "model.int8.qdq.onnx"]
    assert man["calibration"] == {"source": str(tmp_path / "calib.npz"), "batches": 4, "synthetic": False, "method": "minmax"}
    assert man["warnings"] == [] and man["trtexec_shapes"]["opt"] == "input:8x3x32x32"
    q = onnx.load(str(out / "model.int8.qdq.onnx"))
    onnx.checker.check_model(q)
    inits = {i.name: numpy_helper.to_array(i) for i in q.graph.initializer}
    dq = [n for n in q.graph.node if n.op_type == "DequantizeLinear"]
    assert len(dq) > 10 and any(n.op_type == "QuantizeLinear" for n in q.graph.node)
    for n in dq:  # int8 everywhere (TensorRT takes no int32 bias Q/DQ), symmetric: zero points 0
        assert inits.get(n.input[0], np.zeros(1, np.int8)).dtype == np.int8 and not inits[n.input[2]].any()
    conv_w = [n for n in dq if n.input[0] == "stem.w_quantized"][0]
    assert inits[conv_w.input[1]].shape == (16,)  # per output channel
    # the manifest's accuracy is the real onnxruntime accuracy of the written model
    from trtdoctor.smoke.model import reference_model, sample_inputs

    x = sample_inputs(8)
    ref = ort.InferenceSession(reference_model().SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    got = ort.InferenceSession(str(out / "model.int8.qdq.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    cos = float(np.mean(np.sum(got * ref, 1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)))
    assert man["accuracy"]["int8"]["cosine"] == pytest.approx(cos, abs=1e-5) and cos > 0.98
    assert man["accuracy"]["fp16"]["passed"] and man["accuracy"]["fp16"]["cosine"] > 0.999
    assert "trtexec --onnx=model.int8.qdq.onnx --minShapes=input:1x3x32x32" in (out / "summary.txt").read_text()


def test_export_without_calibration_data_warns_that_its_scales_mean_nothing(saved, tmp_path):
    res = export(saved, "--model", str(keras_nhwc(tmp_path / "k.onnx")), "--export", str(tmp_path / "e"), "--precision", "int8")
    r = json.loads(res.stdout)
    assert r["export"]["calibration"]["synthetic"] is True
    assert any("synthetic random data: its scales mean nothing" in w for w in r["export"]["warnings"])
    assert "! INT8 calibrated on 8 batches of synthetic" in (tmp_path / "e" / "summary.txt").read_text()
    assert "Please consider" not in res.stderr  # onnxruntime's pre-processing advice is not our output


def test_export_of_a_multi_input_model_calibrates_from_a_folder_of_npz(saved, tmp_path):
    path = multi_input(tmp_path / "m.onnx")
    calib = tmp_path / "calib"
    calib.mkdir()
    ins, _ = describe(onnx.load(str(path)))
    for i in range(3):
        np.savez(calib / f"b{i}.npz", **random_feeds(ins, {"image": (2, 3, 8, 8), "ids": (2, 4), "mask": (2, 4)}, seed=i))
    res = export(saved, "--model", str(path), "--export", str(tmp_path / "e"), "--precision", "int8", "--calib-data", str(calib))
    assert res.returncode == 0, res.stdout + res.stderr
    man = json.loads(res.stdout)["export"]
    assert man["calibration"]["batches"] == 3 and man["accuracy"]["int8"]["passed"]


def test_export_skips_fp16_with_a_note_without_onnxconverter_common(tmp_path, monkeypatch):
    from trtdoctor.smoke.export import export as do_export
    from trtdoctor.smoke.runner import prepare

    monkeypatch.setitem(__import__("sys").modules, "onnxconverter_common", None)  # import fails as if absent
    prep = prepare({"model": "reference", "batch": 2})
    man = do_export(prep, [], str(tmp_path / "e"), "fp16", None)
    assert [f["precision"] for f in man["files"]] == ["fp32"] and man["accuracy"] == {}
    assert man["notes"] == ["FP16 skipped: onnxconverter-common is not installed (pip install onnxconverter-common)"]


def test_export_writes_only_into_a_folder_it_owns_and_is_idempotent(saved, tmp_path):
    out = tmp_path / "e"
    first = export(saved, "--export", str(out), "--precision", "int8", "--calib-data", str(calib_npz(tmp_path / "c.npz")))
    again = export(saved, "--export", str(out), "--precision", "int8", "--calib-data", str(tmp_path / "c.npz"))
    assert first.returncode == again.returncode == 0
    assert json.loads(first.stdout)["export"]["files"] == json.loads(again.stdout)["export"]["files"]  # same bytes
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.fp32.onnx", "model.int8.qdq.onnx", "summary.txt"]  # no temporary left
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "model.fp32.onnx").write_text("the user's")
    res = export(saved, "--export", str(theirs))
    assert res.returncode == 2 and "holds files trtdoctor did not write" in res.stderr and len(res.stderr.splitlines()) == 1
    assert (theirs / "model.fp32.onnx").read_text() == "the user's"
    (tmp_path / "afile").write_text("x")
    res = export(saved, "--export", str(tmp_path / "afile"))
    assert res.returncode == 2 and "not a folder" in res.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_export_never_writes_through_a_link_or_into_a_fifo(saved, tmp_path):
    out = tmp_path / "e"
    assert export(saved, "--export", str(out), "--precision", "fp32").returncode == 0
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (out / "model.fp32.onnx").unlink()
    (out / "model.fp32.onnx").symlink_to(victim)
    res = export(saved, "--export", str(out), "--precision", "fp32")
    assert res.returncode == 2 and "not a regular file trtdoctor wrote" in res.stderr and victim.read_text() == "keep"
    (out / "model.fp32.onnx").unlink()
    os.mkfifo(out / "model.fp32.onnx")
    res = export(saved, "--export", str(out), "--precision", "fp32", env={**os.environ})
    assert res.returncode == 2 and "not a regular file" in res.stderr


@pytest.mark.parametrize(("make", "words"), [("lacking", "--calib-data lacks input"), ("empty-dir", "holds no .npz files"), ("missing", "no such file or folder")])
def test_bad_calibration_data_is_one_line_and_exit_2(saved, tmp_path, make, words):
    p = tmp_path / "calib"
    if make == "lacking":
        p = tmp_path / "c.npz"
        np.savez(p, other=np.zeros((4, 3, 32, 32), np.float32))
    elif make == "empty-dir":
        p.mkdir()
    res = export(saved, "--export", str(tmp_path / "e"), "--precision", "int8", "--calib-data", str(p))
    assert res.returncode == 2 and words in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


# --- baselines: onnxruntime on the best provider, timed as the engine is ---------------------


def test_best_provider_order():
    from trtdoctor.smoke.backends import best_providers

    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert best_providers(gpu, nvinfer_resolves=True) == gpu
    assert best_providers(gpu, nvinfer_resolves=False) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert best_providers(["CPUExecutionProvider"], True) == ["CPUExecutionProvider"]
    assert best_providers(["CPUExecutionProvider", "AzureExecutionProvider"], True) == ["CPUExecutionProvider"]


def test_a_provider_that_cannot_start_is_said_and_skipped(monkeypatch):
    """Real onnxruntime drops a provider it does not have with only a log line; the report says it."""
    from trtdoctor.smoke import backends
    from trtdoctor.smoke.model import reference_model, sample_inputs

    monkeypatch.setattr(backends, "best_providers", lambda available, ok: ["NoSuchExecutionProvider", "CPUExecutionProvider"])
    b = backends.ort_baseline(reference_model(), {"input": sample_inputs(2)}, 4, 1, False)
    assert b["provider"] == "CPUExecutionProvider" and b["name"] == "onnxruntime-cpu"
    assert b["warnings"][0] == "NoSuchExecutionProvider was asked for but onnxruntime runs on CPUExecutionProvider"


def test_baseline_is_timed_like_the_engine_and_reported_with_export(saved, tmp_path):
    res = export(saved, "--export", str(tmp_path / "e"), "--precision", "fp32", "--iterations", "7", "--warmup", "2", "--batch", "4")
    r = json.loads(res.stdout)
    b = r["baseline"]
    assert b["provider"] in ort.get_available_providers() and b["available_providers"] == ort.get_available_providers()
    assert b["latency_ms"]["n"] == 7  # --iterations, as the engine's timing uses
    assert b["throughput_items_per_s"] == pytest.approx(4 * 1e3 / b["latency_ms"]["median"])
    assert not [e.message for e in smoke_schema().iter_errors(r)]
    text = run_cli("smoke", "--from", str(saved), "--export", str(tmp_path / "e"), "--precision", "fp32", "--iterations", "3").stdout
    assert "baseline onnxruntime-cpu" in text and "p99" in text and "items/s" in text


def test_a_model_onnxruntime_cannot_run_on_the_shapes_is_one_line_and_exit_2(saved, tmp_path):
    """Valid to the checker, but its Reshape fits batch 1 only: the user's shapes are wrong."""
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "to"], ["y"])],
        "fixed_reshape",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "to")],
    )
    path = _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "r.onnx")
    for args in ([], ["--export", str(tmp_path / "e")]):
        res = smoke(saved, "--model", str(path), "--batch", "4", *args)
        assert res.returncode == 2 and "onnxruntime cannot run --model" in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
