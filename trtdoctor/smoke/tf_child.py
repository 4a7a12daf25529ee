"""The TensorFlow side of the smoke, run by the TensorFlow install's own interpreter (which
may not have trtdoctor): the parent sends this file's source with ``python -c`` and one JSON
request as argv[1]. Standard library at the top, numpy and TensorFlow imported inside the
functions, so the parent's tests can import it without TensorFlow.

Each stage prints one JSON line as it ends, so a later crash keeps the earlier results; the
last line is the result. A failure is a ``{"stage": ..., "error": ...}`` line, never a
traceback. Nothing here calls a TF function that aborts without TensorRT before the exact
sonames TF was linked against have been dlopened (``trt_check``)."""

import ctypes
import json
import os
import shutil
import sys
import tempfile
import time

PRECISIONS = {"fp32": "FP32", "fp16": "FP16", "int8": "INT8"}
MARK = ".written-by-trtdoctor"  # a folder holding it may be replaced by the next run


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def one_line(exc):
    text = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- the reference model, as a SavedModel ----------------------------------------------------


def reference_saved_model(cache, seed=0):
    """The smoke's reference CNN (a stem and two residual blocks, global pool, dense) in NHWC,
    deterministic weights, built once per TF version and renamed into place whole."""
    import tensorflow as tf

    path = os.path.join(cache, f"reference-tf-{tf.__version__}")
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path, False
    os.makedirs(cache, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".reference-", dir=cache)
    tf.saved_model.save(_reference_module(seed), tmp)
    try:
        os.rename(tmp, path)
    except OSError:  # another run got there first: theirs is as good
        shutil.rmtree(tmp, ignore_errors=True)
    return path, True


def _reference_module(seed):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    weights = {}

    def var(name, *shape, scale=None):
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else shape[0]
        weights[name] = tf.Variable(rng.standard_normal(shape).astype(np.float32) * (scale or (2.0 / fan_in) ** 0.5), name=name)
        return weights[name]

    def conv_bn(name, cin, cout):
        var(f"{name}.w", 3, 3, cin, cout)
        for part, arr in (("gamma", 1.0 + 0.1 * rng.standard_normal(cout)), ("beta", 0.1 * rng.standard_normal(cout)), ("mean", 0.1 * rng.standard_normal(cout)), ("var", 0.5 + np.abs(rng.standard_normal(cout)))):
            weights[f"{name}.{part}"] = tf.Variable(arr.astype(np.float32), name=f"{name}.{part}")

    blocks = [(16, 16, 1), (16, 32, 2)]
    conv_bn("stem", 3, 16)
    for i, (cin, cout, stride) in enumerate(blocks):
        conv_bn(f"b{i}.c1", cin, cout)
        conv_bn(f"b{i}.c2", cout, cout)
        if cin != cout or stride != 1:
            conv_bn(f"b{i}.proj", cin, cout)
    var("fc.w", 32, 10)
    var("fc.b", 10, scale=0.01)

    def apply(x, name, stride=1, relu=True):
        y = tf.nn.conv2d(x, weights[f"{name}.w"], strides=stride, padding="SAME")
        y = tf.nn.batch_normalization(y, weights[f"{name}.mean"], weights[f"{name}.var"], weights[f"{name}.beta"], weights[f"{name}.gamma"], 1e-5)
        return tf.nn.relu(y) if relu else y

    class Reference(tf.Module):
        def __init__(self):
            super().__init__(name="trtdoctor_reference_resnet")
            self.w = weights

        @tf.function(input_signature=[tf.TensorSpec([None, 32, 32, 3], tf.float32, name="input")])
        def __call__(self, input):  # noqa: A002 (the signature's input name)
            x = apply(input, "stem")
            for i, (cin, cout, stride) in enumerate(blocks):
                y = apply(apply(x, f"b{i}.c1", stride), f"b{i}.c2", relu=False)
                short = x if (cin == cout and stride == 1) else apply(x, f"b{i}.proj", stride, relu=False)
                x = tf.nn.relu(y + short)
            pooled = tf.reduce_mean(x, axis=[1, 2])
            return {"logits": tf.matmul(pooled, self.w["fc.w"]) + self.w["fc.b"]}

    return Reference()


# --- reading a SavedModel's signature -------------------------------------------------------


def signature_of(model_dir, key=None):
    """The serving signature and its inputs and outputs, as TF's own loader reads them."""
    import tensorflow as tf

    loaded = tf.saved_model.load(model_dir)
    sigs = dict(loaded.signatures)
    if not sigs:
        raise ValueError(f"{model_dir} has no signatures (save it with signatures=...)")
    key = key or ("serving_default" if "serving_default" in sigs else sorted(sigs)[0])
    fn = sigs[key]
    ins = fn.structured_input_signature[1]
    outs = fn.structured_outputs
    return loaded, key, fn, [_spec(n, s) for n, s in sorted(ins.items())], [_spec(n, s) for n, s in sorted(outs.items())]


def _spec(name, spec):
    dims = [int(d) if d is not None else None for d in spec.shape.as_list()] if spec.shape.rank is not None else None
    return {"name": name, "dtype": spec.dtype.name, "dims": dims}


# --- timing --------------------------------------------------------------------------------


def timed(fn, feeds, iterations, warmup):
    """The outputs as numpy arrays (sorted by name) and one host clock per call, outputs copied
    to the host inside it, as the other baselines are timed."""
    for _ in range(warmup):
        _to_numpy(fn(**feeds))
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        out = _to_numpy(fn(**feeds))
        times.append((time.perf_counter() - t0) * 1e3)
    return out, times


def _to_numpy(result):
    return {k: v.numpy() for k, v in sorted(result.items())}


def save_outputs(path, outputs):
    import numpy as np

    np.savez(path, **outputs)
    return path


# --- TF-TRT --------------------------------------------------------------------------------


def trt_check(sonames):
    """dlopen each TensorRT library TF was linked against before TF is asked: TF aborts the
    process in get_loaded_tensorrt_version() and in the converter when one is missing."""
    if not sonames:
        return {"ok": False, "error": "which TensorRT library this TensorFlow needs is unknown"}
    for name in sonames:
        try:
            ctypes.CDLL(name)
        except OSError as exc:
            return {"ok": False, "missing": name, "error": str(exc)}
    return {"ok": True}


def converter_kwargs(req, params_names, init_names):
    """TrtConversionParams and TrtGraphConverterV2 arguments for a request, keeping only those
    this TF's converter takes (``dropped``: asked for, but this TF has no such argument)."""
    conv = req["convert"]
    params = {
        "precision_mode": PRECISIONS[conv["precision"]],
        "max_workspace_size_bytes": conv.get("workspace_bytes"),
        "minimum_segment_size": conv.get("min_segment_size"),
        "use_calibration": conv["precision"] == "int8",
        "maximum_cached_engines": 1,
    }
    params = {k: v for k, v in params.items() if v is not None}
    init = {"use_dynamic_shape": True, "dynamic_shape_profile_strategy": "Range+Optimal"} if conv.get("profile") else {}
    dropped = sorted(k for k in list(params) + list(init) if k not in params_names and k not in init_names)
    return {k: v for k, v in params.items() if k in params_names}, {k: v for k, v in init.items() if k in init_names}, dropped


def shape_feeds(specs, profile, seed=2):
    """Seeded inputs of the min, opt and max shapes, for build(): one engine profile each."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for i in range(3):
        out.append({s["name"]: rng.standard_normal(profile[s["name"]][i]).astype(s["dtype"]) for s in specs})
    return out


def calibration_batches(req, specs, opt_shapes):
    """INT8 calibration inputs: the --calib-data .npz files (first axis: samples, cut into
    batches of the opt shape's first dim), else seeded random data (``synthetic``)."""
    import numpy as np

    paths = req["convert"].get("calib") or []
    if not paths:
        rng = np.random.default_rng(3)
        return [{s["name"]: rng.standard_normal(opt_shapes[s["name"]]).astype(s["dtype"]) for s in specs} for _ in range(4)], True
    batches = []
    for path in paths:
        with np.load(path, allow_pickle=False) as z:
            arrays = {s["name"]: z[s["name"]].astype(s["dtype"]) for s in specs}
        n = min(len(a) for a in arrays.values())
        step = max(1, opt_shapes[specs[0]["name"]][0])
        batches += [{k: a[i : i + step] for k, a in arrays.items()} for i in range(0, n, step)]
    return batches, False


def convert(req, model_dir, key, specs, feeds):
    """TrtGraphConverterV2: convert(), build() with the profile's shapes, save(); then the
    converted SavedModel loaded and run on the feeds."""
    import tensorflow as tf
    from tensorflow.python.compiler.tensorrt import trt_convert as trt

    conv = req["convert"]
    import inspect

    params_names = set(trt.TrtConversionParams._fields)
    init_names = set(inspect.signature(trt.TrtGraphConverterV2.__init__).parameters)
    pkw, ikw, dropped = converter_kwargs(req, params_names, init_names)
    converter = trt.TrtGraphConverterV2(input_saved_model_dir=model_dir, input_saved_model_signature_key=key, conversion_params=trt.TrtConversionParams(**pkw), **ikw)
    t0 = time.perf_counter()
    calib, synthetic = (None, None)
    if conv["precision"] == "int8":
        batches, synthetic = calibration_batches(req, specs, {k: v[1] for k, v in conv["profile"].items()})
        converter.convert(calibration_input_fn=lambda: (tuple(tf.constant(b[s["name"]]) for s in specs) for b in batches))
        calib = len(batches)
    else:
        converter.convert()
    convert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    if conv.get("profile") and "use_dynamic_shape" in ikw:
        shapes = shape_feeds(specs, conv["profile"])
        converter.build(input_fn=lambda: (tuple(tf.constant(f[s["name"]]) for s in specs) for f in shapes))
    build_s = time.perf_counter() - t0
    tmp = tempfile.mkdtemp(prefix=".tftrt-", dir=os.path.dirname(conv["out"]))
    converter.save(tmp)
    replace_dir(tmp, conv["out"])
    fn = tf.saved_model.load(conv["out"]).signatures[key]
    segments = sum(1 for n in fn.graph.as_graph_def().node if n.op == "TRTEngineOp")
    segments += sum(1 for f in fn.graph.as_graph_def().library.function for n in f.node_def if n.op == "TRTEngineOp")
    out, times = timed(fn, {k: tf.constant(v) for k, v in feeds.items()}, req["iterations"], req["warmup"])
    res = {"convert_s": convert_s, "build_s": build_s, "saved": conv["out"], "params": pkw | ikw, "dropped": dropped, "trt_engine_ops": segments, "latency_ms": times}
    if calib is not None:
        res["calibration"] = {"batches": calib, "synthetic": synthetic}
    res["outputs"] = save_outputs(os.path.join(req["work"], "tftrt.npz"), out)
    return res


def replace_dir(tmp, dest):
    """``tmp`` renamed to ``dest``; an old ``dest`` only goes if trtdoctor wrote it."""
    open(os.path.join(tmp, MARK), "w").close()
    if os.path.lexists(dest):
        if not os.path.isfile(os.path.join(dest, MARK)):
            shutil.rmtree(tmp, ignore_errors=True)
            raise FileExistsError(f"{dest} exists and was not written by trtdoctor; not replaced (pass another --engine-cache)")
        shutil.rmtree(dest)
    os.rename(tmp, dest)


# --- the stages ----------------------------------------------------------------------------


def describe(req):
    import tensorflow as tf

    model_dir, built = reference_saved_model(req["cache"]) if req["model"] == "reference" else (req["model"], False)
    _, key, _, ins, outs = signature_of(model_dir, req.get("signature"))
    try:
        from tensorflow.compiler.tf2tensorrt import _pywrap_py_utils as u

        trt_enabled = bool(u.is_tensorrt_enabled())
    except Exception:  # a TF without TF-TRT: said, not raised  # noqa: BLE001
        trt_enabled = False
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {"tensorflow": tf.__version__, "model_dir": model_dir, "built_reference": built, "signature": key, "inputs": ins, "outputs": outs, "gpus": gpus, "tftrt_enabled": trt_enabled}


def baseline(req):
    """The SavedModel run by TensorFlow on the feeds: the accuracy reference and the speed-up base."""
    import numpy as np
    import tensorflow as tf

    _, _, fn, _, _ = signature_of(req["model_dir"], req["signature"])
    with np.load(req["feeds"], allow_pickle=False) as z:
        feeds = {k: tf.constant(z[k]) for k in z.files}
    gpus = tf.config.list_physical_devices("GPU")
    device = f"/GPU:{req.get('device', 0)}" if gpus else "/CPU:0"
    with tf.device(device):
        out, times = timed(fn, feeds, req["iterations"], req["warmup"])
        placed = fn(**feeds)
    return {"device": device, "placed_on": next(iter(placed.values())).device, "latency_ms": times, "outputs": save_outputs(os.path.join(req["work"], "baseline.npz"), out)}


def to_onnx(req):
    """tf2onnx, in this interpreter, when it is installed here."""
    try:
        import tf2onnx  # noqa: F401
    except ImportError:
        return {"error": "tf2onnx is not installed", "missing": "tf2onnx"}
    import subprocess

    tmp = req["onnx"] + ".partial"
    cmd = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", req["model_dir"], "--signature_def", req["signature"], "--output", tmp, "--opset", str(req.get("opset", 17))]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=req.get("onnx_timeout", 600))
    if res.returncode != 0:
        return {"error": "tf2onnx failed: " + ((res.stderr.strip().splitlines() or ["no output"])[-1])[:300]}
    os.replace(tmp, req["onnx"])
    return {"onnx": req["onnx"]}


def stages_for(req):
    """describe | onnx | baseline, then (TF-TRT) the dlopen check and the conversion."""
    if req["action"] in ("describe", "onnx"):
        return [(req["action"], describe if req["action"] == "describe" else to_onnx)]
    out = [("baseline", baseline)]
    if req.get("convert"):
        out += [("trt_check", lambda r: trt_check(r["convert"]["trt_sonames"])), ("convert", convert_stage)]
    return out


def convert_stage(req):
    import numpy as np

    with np.load(req["feeds"], allow_pickle=False) as z:
        feeds = {k: z[k] for k in z.files}
    return convert(req, req["model_dir"], req["signature"], req["specs"], feeds)


def run(req):
    """Each stage's answer as one line; a stage that fails ends the run with its error."""
    for name, fn in stages_for(req):
        try:
            res = fn(req)
        except Exception as exc:  # TF raises many types; the parent wants one line  # noqa: BLE001
            emit({"stage": name, "error": one_line(exc)})
            return
        emit({"stage": name, **res})
        if res.get("error") or res.get("ok") is False:
            return


if __name__ == "__main__":
    run(json.loads(sys.argv[1]))
