"""INT8 that is INT8: what ``smoke --precision int8`` gives TensorRT, and how it was made.

Implicit quantization (TensorRT ≤ 10): the FP32 model, BuilderFlag.INT8 and a calibrator —
Polygraphy's ``Calibrator`` (entropy by default, MinMax on request) fed by ``--calib-data``,
with a calibration cache (``--calib-cache``) written after a build and read on the next.
Explicit quantization (the only way in TensorRT 11): the Q/DQ model of export.qdq_int8 from
the same data, held to the INT8 tolerance against FP32 on onnxruntime before TensorRT sees it.
The report (``out["int8"]``) says which, from what data, and what happened to the cache."""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path

from .. import knowledge
from ..userfile import Refused, read_capped
from .backends import SmokeError, first_line
from .export import calibration_feeds, onnx_accuracy, qdq_int8
from .inputs import BadInput

BASES = {"entropy": "IInt8EntropyCalibrator2", "minmax": "IInt8MinMaxCalibrator"}
# The first line of every calibration cache TensorRT writes: TRT-<version>-<algorithm>.
CACHE_MAX_BYTES = 16 << 20  # a real cache is a line per tensor: kilobytes
CACHE_HEADER = re.compile(rb"TRT-[0-9]+-[A-Za-z0-9]*Calibration[A-Za-z0-9]*\r?\n")


@contextlib.contextmanager
def int8_build(be, prep, ref: list, opts: dict, out: dict):
    """(model to build, calibrator or None) for ``be.build``; around the build, because the
    calibration cache is published only after it succeeds. Sets ``out["int8"]`` for INT8, and
    for ``best`` where the INT8 flag exists (a strongly typed ``best`` is the FP16 graph)."""
    if opts["precision"] not in ("int8", "best") or (opts["precision"] == "best" and be.strongly_typed):
        yield prep.model, None
        return
    mode, why = quantization_mode(be, opts.get("quantization"))
    rep = out["int8"] = {"mode": mode, "why": why, "calibrator": (opts.get("calibrator") or "entropy") if mode == "implicit" else "minmax", "warnings": []}
    if mode == "explicit":
        yield explicit_model(prep, ref, opts, rep), None
        return
    with implicit_calibrator(be, prep, opts, rep) as calibrator:
        yield prep.model, calibrator


def quantization_mode(be, requested: str | None) -> tuple[str, str]:
    """Explicit where the kb says TensorRT removed BuilderFlag.INT8 or deprecated the
    calibrators ("superseded by explicit quantization"), so a smoke proves the path that
    keeps working on the next major; implicit before, and on request where it exists."""
    version = be.trt.__version__
    gone = knowledge.removed_api(be.major, "BuilderFlag.INT8")
    if be.name == "tensorrt-rtx" or gone:
        why = f"{be.name} {version} takes INT8 only from Q/DQ nodes" + (f" (TensorRT {gone['major']} removed BuilderFlag.INT8)" if gone else "")
        if requested == "implicit":
            raise SmokeError(f"--quantization implicit: {why}; use --quantization explicit")
        return "explicit", why
    if requested:
        return requested, "--quantization"
    dep = knowledge.deprecated_api(version, "IInt8Calibrator")
    if dep:
        return "explicit", f"TensorRT {dep['since']} deprecated calibrators ({dep['replacement']}); --quantization implicit uses one"
    return "implicit", f"TensorRT {version} calibrates INT8 with BuilderFlag.INT8 and a calibrator"


def explicit_model(prep, ref: list, opts: dict, rep: dict):
    """The Q/DQ model, or a SmokeError with its figures when onnxruntime finds it out of
    tolerance against FP32: TensorRT would only make the same error faster."""
    if opts.get("calib_cache"):
        rep["warnings"].append("--calib-cache is for implicit calibration: explicit Q/DQ scales live in the model; it was not used")
    if opts.get("calibrator") == "entropy":
        rep["warnings"].append("--calibrator entropy is TensorRT's implicit calibrator: onnxruntime makes the Q/DQ model with MinMax ranges")
    man = {"warnings": rep["warnings"], "notes": []}
    model = qdq_int8(prep, opts.get("calib_data"), man)
    _data(rep, man["calibration"])
    acc = rep["accuracy"] = onnx_accuracy(model, prep, ref, "int8")
    if not acc["passed"]:
        tol = acc["tolerance"]
        raise SmokeError(
            f"the Q/DQ INT8 model is out of tolerance against FP32 on onnxruntime (cosine {acc['cosine']:.5f}, needs ≥ {tol['cosine']}; top-1 {acc['top1_agreement']:.3f}, needs ≥ {tol['top1']}; "
            f"max abs {acc['max_abs_error']:.4g}, needs ≤ {tol['max_abs']}), so TensorRT was not given it; "
            + ("calibrate on real inputs with --calib-data" if rep["synthetic"] else "check that --calib-data holds inputs prepared as the ones run are")
        )
    return model


def _data(rep: dict, cal: dict) -> None:
    rep.update(data=cal["source"], batches=cal["batches"], synthetic=cal["synthetic"])


@contextlib.contextmanager
def implicit_calibrator(be, prep, opts: dict, rep: dict):
    """Polygraphy's Calibrator on TensorRT's own base class. Its cache 'file' is a temporary
    file of ours beside --calib-cache, renamed over it only when TensorRT wrote a new cache."""
    calibrator_class, logger = _polygraphy()
    cache = CalibCache(opts["calib_cache"]) if opts.get("calib_cache") else None
    rep.update(data=None, batches=0, synthetic=False, cache=str(cache.path) if cache else None, cache_reused=False, cache_written=False)
    batches = Batches(prep, opts.get("calib_data"), rep)
    if cache is None or not cache.old:
        batches.load()  # no cache to reuse: the data is needed, and its errors are the user's now
    with contextlib.ExitStack() as stack:
        fh = stack.enter_context(cache.scratch()) if cache else None
        stack.enter_context(logger.verbosity(logger.CRITICAL + 1))  # Polygraphy prints to stdout; the report is ours
        calibrator = stack.enter_context(_make(calibrator_class, be, batches, fh, rep["calibrator"]))
        try:
            yield calibrator
        except SmokeError:
            if batches.error:  # TensorRT failed for want of the data we could not read
                raise batches.error from None
            raise
        rep["batches"] = batches.drawn
        rep["cache_reused"] = bool(cache and cache.old and not batches.drawn)
        rep["cache_written"] = bool(cache and cache.publish(fh))


def _make(calibrator_class, be, batches, fh, algorithm: str):
    try:
        return calibrator_class(batches, cache=fh, BaseClass=getattr(be.trt, BASES[algorithm]))
    except Exception as exc:  # Polygraphy refuses a TensorRT it does not support, in its own types  # noqa: BLE001
        raise SmokeError(f"Polygraphy could not make an INT8 calibrator for {be.name} {be.trt.__version__}: {first_line(exc)}; use --quantization explicit") from None


def _polygraphy():
    """Polygraphy's calibrator: NVIDIA-kept, pure Python, used here exactly as documented."""
    try:
        from polygraphy.backend.trt import Calibrator
        from polygraphy.logger import G_LOGGER
    except ImportError as exc:
        if (exc.name or "").split(".")[0] != "polygraphy":
            raise SmokeError(f"Polygraphy is installed but does not import ({exc}); or use --quantization explicit") from None
        raise SmokeError("implicit INT8 calibration needs Polygraphy's calibrator, which is not installed: pip install polygraphy (or 'trtdoctor[smoke]'), or use --quantization explicit") from None
    return Calibrator, G_LOGGER


class Batches:
    """Polygraphy's data loader: the calibration batches at the profile's opt shape (where
    TensorRT calibrates), read when first needed — a reused cache needs none."""

    def __init__(self, prep, calib: str | None, rep: dict):
        self.prep, self.calib, self.rep = prep, calib, rep
        self.batches: list | None = None
        self.error: BadInput | None = None
        self.drawn = 0

    def load(self) -> list:
        if self.batches is None:
            man = {"warnings": self.rep["warnings"]}
            self.batches = at_opt(self.prep, calibration_feeds(self.prep, self.calib, man), self.rep["warnings"])
            _data(self.rep, man["calibration"])
        return self.batches

    def __iter__(self):
        try:
            batches = self.load()
        except BadInput as exc:  # raised inside TensorRT's call would be lost: kept, said after
            self.error, batches = exc, []
        for b in batches:
            self.drawn += 1
            yield b


def at_opt(prep, batches: list[dict], warnings: list[str]) -> list[dict]:
    """The batches whose every input has the profile's opt shape; the others are said."""
    opt = prep.profile.opt()
    keep = [b for b in batches if all(tuple(b[k].shape) == tuple(opt[k]) for k in opt)]
    shape = ", ".join(f"{k}:{'x'.join(map(str, v))}" for k, v in opt.items())
    if not keep:
        raise BadInput(f"--calib-data: no batch has the profile's opt shape ({shape}), the shape TensorRT calibrates at")
    if len(keep) < len(batches):
        warnings.append(f"{len(batches) - len(keep)} of {len(batches)} calibration batches skipped: TensorRT calibrates at the profile's opt shape ({shape})")
    return keep


class CalibCache:
    """``--calib-cache FILE``: new, or a TensorRT calibration cache (its TRT-<version>-<algo>
    first line), which is read and may be replaced by a fresh one; anything else — another
    file, a link, a FIFO, a device, a folder — is not ours, and is neither read nor written."""

    def __init__(self, path: str):
        p = Path(path)
        if p.is_symlink() or (p.exists() and not p.is_file()):
            raise BadInput(f"--calib-cache {p}: not a regular file; trtdoctor reads and writes only calibration caches")
        if not p.parent.is_dir():
            raise BadInput(f"--calib-cache {p}: no such folder {p.parent}")
        self.path, self.old = p, b""
        if p.exists():
            try:
                self.old = read_capped(p, CACHE_MAX_BYTES)
            except Refused as exc:
                raise BadInput(f"--calib-cache {p}: it {exc}; trtdoctor reads and writes only calibration caches") from None
            except OSError as exc:
                raise BadInput(f"--calib-cache {p}: {exc.strerror or exc}") from None
            if not CACHE_HEADER.match(self.old):
                raise BadInput(f"--calib-cache {p}: not a TensorRT calibration cache (no TRT-<version>-<algorithm> first line); trtdoctor will not overwrite it")

    @contextlib.contextmanager
    def scratch(self):
        """A temporary file beside the cache, holding the old one for Polygraphy to read."""
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        except OSError as exc:
            raise BadInput(f"--calib-cache {self.path}: cannot write in {self.path.parent}: {exc.strerror or exc}") from None
        os.write(fd, self.old)
        os.close(fd)
        fh = ReplacingFile(tmp, "r+b")
        try:
            yield fh
        finally:
            fh.close()
            if os.path.lexists(tmp):
                os.unlink(tmp)

    def publish(self, fh: ReplacingFile) -> bool:
        """Rename the scratch file over the cache, atomically, if TensorRT wrote into it."""
        if not fh.written:
            return False
        fh.flush()
        os.chmod(fh.name, 0o644)
        os.replace(fh.name, self.path)
        return True


class ReplacingFile(io.FileIO):
    """A real file (Polygraphy stats and fsyncs it) whose write replaces its whole content:
    TensorRT writes a complete cache, which must not land on top of the old one."""

    written = False

    def write(self, b) -> int:
        self.seek(0)
        self.truncate()
        self.written = True
        return super().write(b)


def int8_text(rep: dict | None) -> list[str]:
    """The report's INT8 lines for the text view."""
    if not rep:
        return []
    data = "no data (the cache was reused)" if rep.get("data") is None else f"{rep.get('batches', 0)} batches from {rep['data']}"
    line = f"  int8: {rep['mode']} quantization, {rep['calibrator']} calibration, {data}"
    if rep.get("cache"):
        line += f"; cache {rep['cache']} " + ("reused" if rep.get("cache_reused") else "written" if rep.get("cache_written") else "unchanged")
    lines = [line, f"        ({rep['why']})"]
    if rep.get("accuracy"):
        a = rep["accuracy"]
        lines.append(f"        Q/DQ vs fp32 on onnxruntime: cosine {a['cosine']:.6f}, top-1 {a['top1_agreement']:.3f}, max abs {a['max_abs_error']:.4g} ({'ok' if a['passed'] else 'OUT OF TOLERANCE'})")
    return lines + [f"  ! {w}" for w in rep["warnings"]]
