"""trtexec, NVIDIA's own benchmark, as the baseline people already trust: where it is on PATH
(NGC containers, tar installs) it builds and times the same model with the same profile,
precision, workspace, CUDA graph and transfer choices as ours, and its performance summary is
read back. Its failures and hangs are its own row's reason, never the smoke's."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from .. import subproc
from ..fix.files import replace_atomically

DEFAULT_TIMEOUT_S = 600.0
NOTE_ABSENT = "trtexec is not on PATH: no trtexec baseline (NGC containers and TensorRT tar installs have it)"


def find() -> str | None:
    return shutil.which("trtexec")


def run(cmd: list[str], timeout: float) -> tuple[int | None, str]:
    """Its exit status (None when it ran past ``timeout`` and was killed) and its output, through
    subproc.run: its own session, ended with all it started, and its output kept to a bounded
    head and tail (the version comes first, the performance summary last)."""
    res = subproc.run(cmd, timeout=timeout)
    if res.error.startswith("could not start"):
        raise OSError(res.error)
    return (None if res.timed_out else res.returncode), res.stdout + res.stderr


def help_flags(exe: str, timeout: float = 30.0) -> set[str]:
    """The options this trtexec lists in --help: flags differ by release (--workspace gave way
    to --memPoolSize, --stronglyTyped came, --fp16 went), and the help says which it has."""
    try:
        _, text = run([exe, "--help"], timeout)
    except OSError:
        return set()
    return set(re.findall(r"^\s*(--[A-Za-z0-9]+)", text, re.M))


def _name(n: str) -> str:
    return f"'{n}'" if ":" in n else n  # trtexec's own quoting for names that hold a colon


def spec(shapes: dict[str, tuple[int, ...]]) -> str:
    return ",".join(f"{_name(n)}:{'x'.join(map(str, s))}" for n, s in shapes.items())


def command(exe: str, onnx_path: str, precision: str, strongly_typed: bool, flags: set[str], profile, dynamic: set[str], run_shapes: dict, opts: dict, engine: Path, load: bool) -> list[str]:
    """One trtexec call: it builds and saves the engine of a precision (``load`` False), or
    loads it to time another batch. Shapes only for inputs with a dynamic dim: trtexec
    refuses explicit shapes for a static model."""
    has = (lambda f: f in flags) if flags else (lambda f: True)  # no help read: assume today's options
    cmd = [exe, f"--loadEngine={engine}"] if load else [exe, f"--onnx={onnx_path}"]
    ranges = {k: v for k, v in profile.shapes.items() if k in dynamic}
    if ranges and not load:
        cmd += [f"--{w}Shapes={spec({k: v[i] for k, v in ranges.items()})}" for i, w in enumerate(("min", "opt", "max"))]
    if ranges:
        cmd.append(f"--shapes={spec({k: v for k, v in run_shapes.items() if k in dynamic})}")
    if not load:
        cmd += precision_flags(precision, strongly_typed, has)
        if opts.get("calib_cache") and "--int8" in cmd and has("--calib"):
            cmd.append(f"--calib={opts['calib_cache']}")  # our calibration's scales, not placeholder ones
        if opts.get("workspace"):
            cmd.append(f"--memPoolSize=workspace:{opts['workspace']}" if has("--memPoolSize") else f"--workspace={opts['workspace']}")
        cmd.append(f"--saveEngine={engine}")
    cmd += (["--useCudaGraph"] if opts.get("cuda_graph") else []) + (["--noDataTransfers"] if opts.get("no_transfers") else [])
    return cmd + [f"--iterations={opts['iterations']}"]


def precision_flags(precision: str, strongly_typed: bool, has) -> list[str]:
    """Ours builds a strongly typed network where the TensorRT has no precision flags;
    trtexec then gets the same FP16 graph and --stronglyTyped."""
    if strongly_typed and has("--stronglyTyped"):
        return ["--stronglyTyped"]
    want = {"fp32": [], "fp16": ["--fp16"], "int8": ["--int8"], "best": ["--fp16", "--int8"]}[precision]
    return [f for f in want if has(f)]


STAT = re.compile(r"(min|max|mean|median|percentile\(([0-9.]+)%\))\s*=?\s*([-+0-9.eE]+)\s*ms")
KEYS = {"min": "min", "max": "max", "mean": "mean", "median": "median"}


def _stats(line: str) -> dict:
    out = {}
    for key, pct, value in STAT.findall(line):
        name = KEYS.get(key) or f"p{float(pct):g}"
        out[name] = float(value)
    return out


def parse(text: str) -> dict:
    """The performance summary: GPU compute time, host latency and enqueue time (ms, with
    the percentiles it printed) and throughput in queries (one query: one batch) per second."""
    summary = text.split("=== Performance summary ===", 1)[-1]
    out: dict = {}
    for label, key in (("GPU Compute Time:", "gpu_ms"), ("Latency:", "latency_ms"), ("Enqueue Time:", "enqueue_ms")):
        line = next((x for x in summary.splitlines() if re.search(rf"\]\s*{re.escape(label)}|^\s*{re.escape(label)}", x)), None)
        if line:
            out[key] = _stats(line.split(label, 1)[1])
    m = re.search(r"Throughput:\s*([-+0-9.eE]+)\s*qps", summary)
    if m:
        out["throughput_qps"] = float(m.group(1))
    return out


def version(text: str) -> str | None:
    m = re.search(r"TensorRT version:\s*(\S+)", text) or re.search(r"\[TensorRT (v\d+)\]", text)
    return m.group(1) if m else None


def errors(text: str, n: int = 3) -> str:
    """Its last error lines, without their time stamps; its last lines when none is marked."""
    lines = [re.sub(r"^\[[^\]]*\]\s*", "", x).strip() for x in text.splitlines() if x.strip()]
    marked = [x[4:].strip() for x in lines if x.startswith("[E]")]
    return " | ".join((marked or lines)[-n:])[:600] or "no output"


def one(cmd: list[str], precision: str, batch: int, timeout: float) -> dict:
    row = {"precision": precision, "batch": batch, "command": cmd, "passed": False}
    t0 = time.perf_counter()
    try:
        rc, text = run(cmd, timeout)
    except OSError as exc:
        return row | {"reason": f"trtexec could not start: {exc}"}
    row["seconds"] = round(time.perf_counter() - t0, 3)
    if rc is None:
        return row | {"reason": f"trtexec did not finish within {timeout:g} s and was stopped; --trtexec-timeout gives it longer"}
    if rc != 0 or "&&&& FAILED" in text:
        return row | {"reason": f"trtexec failed (exit {rc}): {errors(text)}"}
    found = parse(text)
    if "gpu_ms" not in found:
        return row | {"reason": f"no performance summary in trtexec's output: {errors(text)}"}
    row |= found | {"passed": True, "_version": version(text)}
    if "throughput_qps" in found:
        row["throughput_items_per_s"] = found["throughput_qps"] * batch
    return row


def baseline(prep, opts: dict, strongly_typed: bool, cache: Path, precisions: list[str], batches: list[int], graphs: dict | None = None) -> dict | None:
    """trtexec on every cell ours ran: one build per precision (saved), each batch timed on
    it; ``graphs``: the model ours built for a precision where it is not the user's (INT8's
    Q/DQ model). None when trtexec is not on PATH."""
    from .sweep import shapes_at

    exe = find()
    if exe is None:
        return None
    flags, timeout = help_flags(exe), opts.get("trtexec_timeout") or DEFAULT_TIMEOUT_S
    dynamic = {s.name for s in prep.inputs if s.dynamic}
    stem = Path(opts["model"]).stem or "model"
    runs = []
    for p in precisions:
        graph = (graphs or {}).get(p)
        if strongly_typed and p == "int8" and graph is None:
            runs += [{"precision": p, "batch": b, "command": [], "passed": False, "reason": "not run: a strongly typed TensorRT takes INT8 only from Q/DQ nodes, as ours said"} for b in batches]
            continue
        try:
            model = _write(cache / f"{stem}-trtexec-{p}.onnx", graph.SerializeToString()) if graph is not None else model_for(prep, opts, p, strongly_typed, cache, stem)
        except OSError as exc:
            runs += [{"precision": p, "batch": b, "command": [], "passed": False, "reason": f"the model for trtexec could not be written: {exc}"} for b in batches]
            continue
        engine, built = cache / f"{stem}-trtexec-{p}.plan", False
        for b in batches:
            shapes = shapes_at(prep.inputs, prep.profile, b) if len(batches) > 1 else prep.profile.opt()
            row = one(command(exe, model, p, strongly_typed, flags, prep.profile, dynamic, shapes, opts, engine, built), p, b, timeout)
            built = built or row["passed"]
            runs.append(row)
    found = [r.pop("_version", None) for r in runs]
    return {"path": exe, "version": next((v for v in found if v), None), "runs": runs}


def model_for(prep, opts: dict, precision: str, strongly_typed: bool, cache: Path, stem: str) -> str:
    """The ONNX file ours built from: the user's own, or (the reference model, the FP16
    graph of a strongly typed build) one written next to the engines."""
    if strongly_typed and precision in ("fp16", "best"):
        from .model import to_float16

        return _write(cache / f"{stem}-trtexec-fp16.onnx", to_float16(prep.model).SerializeToString())
    if opts["model"] != "reference":
        return str(Path(opts["model"]).resolve())
    return _write(cache / "reference.onnx", prep.model.SerializeToString())


def _write(path: Path, data: bytes) -> str:
    """Atomically, into the engine cache trtdoctor made; never through a link."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise OSError(f"{path} is not a regular file trtdoctor wrote")
    replace_atomically(path, data)
    return str(path)
