"""`trtdoctor smoke` on the user's own ONNX model (issue 13): names, dtypes and dims read from
the graph, trtexec's shape grammar, several inputs, integer and boolean inputs, --input-data,
one-line refusals of bad models and shapes. Real ONNX models made here with onnx.helper, real
onnxruntime, the CLI as a process."""

import json
import os

import numpy as np
import pytest
from conftest import REPO, check_json, run_cli

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


@pytest.fixture
def saved(tree, tmp_path):
    """A saved check of a bare machine: the smoke runs with --force up to where TensorRT is needed."""
    tree.base()
    p = tmp_path / "r.json"
    p.write_text(json.dumps(check_json(tree.root)))
    return p


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
