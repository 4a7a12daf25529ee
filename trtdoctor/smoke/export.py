"""``smoke --export DIR``: what TensorRT would build from, made without TensorRT or a GPU —
the FP32 model, an FP16 model (onnxconverter-common), a Q/DQ INT8 model (onnxruntime's
quantize_static: QDQ format, symmetric int8 activations and weights, per-channel weights,
the explicit quantization TensorRT ≥ 10 takes), the shapes in trtexec's grammar, and each
model's onnxruntime accuracy against FP32. A laptop prepares; the GPU box builds."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import tempfile
from pathlib import Path

from ..fix.files import replace_atomically
from .backends import OrtBaseline, SmokeError, first_line
from .inputs import BadInput, load_npz, random_feeds, user_feeds
from .validate import compare_all

SCHEMA = "trtdoctor.export/1"
MANIFEST, SUMMARY = "manifest.json", "summary.txt"
SYNTHETIC_BATCHES = 8
PLAN = {"fp32": ("fp32",), "fp16": ("fp32", "fp16"), "int8": ("fp32", "int8"), "best": ("fp32", "fp16", "int8")}
FILES = {"fp32": "model.fp32.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.qdq.onnx"}


def export(prep, ref: list, outdir: str, precision: str, calib: str | None) -> dict:
    """Write the models, manifest.json and summary.txt into ``outdir``; return the manifest.
    ``ref``: the FP32 outputs on onnxruntime's CPU provider for ``prep.feeds``."""
    out = Path(outdir)
    ours = _claim(out)
    man = {"schema": SCHEMA, "dir": str(out), "source": prep.source, **prep.describe(), "trtexec_shapes": trtexec_shapes(prep.profile), "files": [], "accuracy": {}, "notes": [], "warnings": []}
    for prec in PLAN[precision]:
        model = _make(prec, prep, calib, man)
        if model is None:
            continue
        name = FILES[prec]
        data = model.SerializeToString()
        _write(out / name, data, ours)
        man["files"].append({"precision": prec, "path": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        if prec != "fp32":
            man["accuracy"][prec] = onnx_accuracy(model, prep, ref, prec)
    man["passed"] = all(a["passed"] for a in man["accuracy"].values())
    _write(out / MANIFEST, (json.dumps(man, indent=2) + "\n").encode(), ours)
    _write(out / SUMMARY, summary_text(man).encode(), ours)
    return man


def _claim(out: Path) -> set[str]:
    """The names we may replace: a new or empty folder, or one whose manifest we wrote.
    Anything else in it is the user's, and we write nowhere near it."""
    if out.exists() and not out.is_dir():
        raise BadInput(f"--export {out}: not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        present = {p.name for p in out.iterdir()}
    except OSError as exc:
        raise BadInput(f"--export {out}: {exc.strerror or exc}") from None
    ours = {MANIFEST, SUMMARY, *FILES.values()}
    if not present:
        return ours
    try:
        old = json.loads((out / MANIFEST).read_text())
        claimed = old.get("schema") == SCHEMA
    except (OSError, ValueError, AttributeError):
        claimed = False
    if not claimed:
        raise BadInput(f"--export {out}: the folder holds files trtdoctor did not write; choose a new or empty folder")
    return ours


def _write(path: Path, data: bytes, ours: set[str]) -> None:
    """Atomic: a temporary file in the same folder, renamed over; only names we own, and
    never through a link or onto a special file."""
    if path.name not in ours or path.is_symlink() or (path.exists() and not path.is_file()):
        raise BadInput(f"--export: will not write {path}: it is not a regular file trtdoctor wrote")
    replace_atomically(path, data)


def _make(prec: str, prep, calib: str | None, man: dict):
    if prec == "fp32":
        return prep.model
    if prec == "fp16":
        return fp16_model(prep.model, man)
    return qdq_int8(prep, calib, man)


def fp16_model(model, man: dict):
    """onnxconverter-common's converter, inputs and outputs kept FP32 (the same feeds run
    both): it knows which ops must stay FP32, which a hand-written cast of weights does not."""
    try:
        from onnxconverter_common import float16
    except ImportError:
        man["notes"].append("FP16 skipped: onnxconverter-common is not installed (pip install onnxconverter-common)")
        return None
    return float16.convert_float_to_float16(model, keep_io_types=True)


def calibration_feeds(prep, calib: str | None, man: dict) -> list[dict]:
    """The user's calibration batches, or seeded synthetic ones with a warning: scales
    computed from noise say nothing about real activations."""
    if not calib:
        man["warnings"].append(f"INT8 calibrated on {SYNTHETIC_BATCHES} batches of synthetic random data: its scales mean nothing for real inputs; pass --calib-data DIR|FILE.npz")
        man["calibration"] = {"source": "synthetic", "batches": SYNTHETIC_BATCHES, "synthetic": True}
        return [random_feeds(prep.inputs, prep.profile.opt(), seed=100 + i) for i in range(SYNTHETIC_BATCHES)]
    p = Path(calib)
    if p.is_dir():
        files = sorted(p.glob("*.npz"))
        if not files:
            raise BadInput(f"--calib-data {p}: the folder holds no .npz files")
        batches = [user_feeds(prep.inputs, prep.profile, load_npz(str(f), "--calib-data"), "--calib-data") for f in files]
    elif p.is_file():
        batches = _split(prep, load_npz(str(p), "--calib-data"))
    else:
        raise BadInput(f"--calib-data {p}: no such file or folder")
    man["calibration"] = {"source": str(p), "batches": len(batches), "synthetic": False}
    return batches


def _split(prep, arrays: dict) -> list[dict]:
    """One .npz of samples (first axis) cut into batches of the profile's opt batch."""
    whole = user_feeds(prep.inputs, prep.profile, arrays, "--calib-data", check_profile=False)
    n = min(len(a) for a in whole.values())
    step = max(1, next(iter(prep.profile.opt().values()))[0] if prep.profile.opt() else 1)
    batches = [{k: v[i : i + step] for k, v in whole.items()} for i in range(0, n, step)]
    lo, _, hi = next(iter(prep.profile.shapes.values()))
    usable = [b for b in batches if lo[0] <= len(next(iter(b.values()))) <= hi[0]]
    if not usable:
        raise BadInput(f"--calib-data: {n} samples give no batch inside the profile's batch range {lo[0]} … {hi[0]}")
    return usable


def qdq_int8(prep, calib: str | None, man: dict):
    """onnxruntime's quantize_static in QDQ format, symmetric int8, per-channel weights, MinMax
    ranges (its entropy calibrator, with 128 bins for 128 levels, picks the max all the same)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    batches = calibration_feeds(prep, calib, man)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(batches)

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory(prefix="trtdoctor-qdq-") as tmp:
        src, dst = Path(tmp) / "in.onnx", Path(tmp) / "q.onnx"
        onnx.save(prep.model, str(src))  # a path, not the proto: quantize_static rewrites a proto it is given
        try:
            with _quiet():
                quantize_static(
                    str(src),
                    str(dst),
                    Reader(),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8,
                    # biases stay float: TensorRT takes int8 Q/DQ only, and fuses biases itself
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False},
                )
        except Exception as exc:  # the quantizer's own errors: say them in one line  # noqa: BLE001
            raise SmokeError(f"onnxruntime could not quantize the model to Q/DQ INT8: {first_line(exc)}") from None
        man["calibration"]["method"] = "minmax"
        return onnx.load(str(dst))


@contextlib.contextmanager
def _quiet():
    """quantize_static logs advice to pre-process on the root logger, and its histogram
    calibrators print progress on stdout, where our JSON goes; the report is ours."""
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.disable(logging.NOTSET)


def onnx_accuracy(model, prep, ref: list, prec: str) -> dict:
    """A converted model on onnxruntime's CPU provider against the FP32 outputs ``ref``."""
    try:
        got = OrtBaseline(model).run(prep.feeds)
    except Exception as exc:  # onnxruntime's own errors: the converted model does not run  # noqa: BLE001
        raise SmokeError(f"the {prec} model does not run on onnxruntime: {first_line(exc)}") from None
    return compare_all(got, ref, prec)


def trtexec_shapes(profile) -> dict:
    """The profile as trtexec's --minShapes/--optShapes/--maxShapes take it."""
    return {k: ",".join(f"{n}:{'x'.join(map(str, trio[i]))}" for n, trio in profile.shapes.items()) for i, k in enumerate(("min", "opt", "max"))}


def summary_text(man: dict) -> str:
    sh = man["trtexec_shapes"]
    lines = [f"trtdoctor export of {man['source']} → {man['dir']}"]
    for f in man["files"]:
        strong = "" if f["precision"] == "fp32" else " --stronglyTyped"
        lines.append(f"  {f['precision']:<5} {f['path']} ({f['bytes']} bytes)")
        lines.append(f"        trtexec --onnx={f['path']} --minShapes={sh['min']} --optShapes={sh['opt']} --maxShapes={sh['max']}{strong}")
    for prec, a in man["accuracy"].items():
        lines.append(f"  {prec} vs fp32 on onnxruntime: cosine {a['cosine']:.6f}, top-1 {a['top1_agreement']:.3f}, max abs {a['max_abs_error']:.4g} ({'ok' if a['passed'] else 'OUT OF TOLERANCE'})")
    lines += [f"  note: {n}" for n in man["notes"]] + [f"  ! {w}" for w in man["warnings"]]
    return "\n".join(lines) + "\n"
