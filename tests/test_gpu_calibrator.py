"""smoke's implicit INT8 calibrator for real on a GPU: Polygraphy's real Calibrator, built by
trtdoctor/smoke/calibrate.py on the named fake TensorRT's base classes (no full TensorRT
installs on the GPU machine), driven the way TensorRT drives one. Each get_batch must hand
over device pointers holding exactly the calibration batches (read back with CuPy); then the
fake builder drives it end to end, and the cache written is read, not recalibrated, next time.

Run on a GPU machine: python3 -m pytest -m gpu tests/test_gpu_calibrator.py -v
(needs polygraphy: pip install polygraphy)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("cupy", "polygraphy", "onnx", "onnxruntime")), reason="needs cupy, polygraphy, onnx and onnxruntime"),
]

FAKE = str(REPO / "tests" / "fake_tensorrt")

DRIVE = r"""
import json, sys
from pathlib import Path
import cupy, numpy as np
import tensorrt as trt
assert trt.__file__.startswith(sys.argv[1]), trt.__file__  # the named fake, never a real TensorRT
from trtdoctor.smoke.backends import TensorRTBackend
from trtdoctor.smoke.calibrate import implicit_calibrator
from trtdoctor.smoke.runner import prepare

calib, cache = sys.argv[2], sys.argv[3]
prep = prepare({"model": "reference", "batch": 8})
want = np.load(calib)["input"]
be = TensorRTBackend("tensorrt"); be.available()
out = {}

def device_copy(ptr, shape):
    cupy.cuda.runtime.deviceSynchronize()
    assert cupy.cuda.runtime.pointerGetAttributes(ptr).type == cupy.cuda.runtime.memoryTypeDevice
    mem = cupy.cuda.UnownedMemory(ptr, int(np.prod(shape)) * 4, out)  # owner: anything alive; Polygraphy owns it
    return cupy.ndarray(shape, cupy.float32, cupy.cuda.MemoryPointer(mem, 0)).get()

# 1. by hand, as TensorRT does, reading each batch back from the GPU while it is current
rep = {"calibrator": "entropy", "warnings": []}
with implicit_calibrator(be, prep, {"calib_data": calib, "calib_cache": cache}, rep) as cal:
    out["base"] = [c.__name__ for c in type(cal).__mro__ if c.__module__ == "tensorrt"]
    out["cache_before"] = cal.read_calibration_cache()
    out["batch_size"] = cal.get_batch_size()
    same = []
    while (ptrs := cal.get_batch(["input"])) is not None:
        i = len(same)
        got = device_copy(int(ptrs[0]), (8, 3, 32, 32))
        same.append(bool(np.array_equal(got, want[i * 8:(i + 1) * 8])))
    out["same"] = same
    cal.write_calibration_cache(memoryview(b"TRT-100001-EntropyCalibration2\ninput: 3c010a14\n"))
out["rep1"] = rep
out["cache_file"] = Path(cache).read_bytes().decode()

# 2. the fake builder drives it end to end: the cache is read, no batch asked for
rep = {"calibrator": "entropy", "warnings": []}
with implicit_calibrator(be, prep, {"calib_data": calib, "calib_cache": cache}, rep) as cal:
    built = be.build(prep.model, "int8", prep.profile, None, cal)
out["plan2"] = json.loads(built["plan"])["calibration"]
out["rep2"] = rep

# 3. without the cache: the builder asks for every batch and gets device pointers
rep = {"calibrator": "minmax", "warnings": []}
with implicit_calibrator(be, prep, {"calib_data": calib, "calib_cache": None}, rep) as cal:
    built = be.build(prep.model, "int8", prep.profile, None, cal)
out["plan3"] = json.loads(built["plan"])["calibration"]
out["rep3"] = rep
print(json.dumps(out))
"""


def _gpu() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def _cudart() -> bool:
    """Polygraphy copies with libcudart (a CUDA toolkit, or pip's nvidia-cuda-runtime)."""
    try:
        from polygraphy import cuda

        cuda.wrapper()
        return True
    except Exception:
        return False


def test_polygraphys_calibrator_hands_tensorrt_the_calibration_batches_on_the_gpu(tmp_path):
    if not _gpu() or not _cudart():
        pytest.skip("needs an NVIDIA GPU and a CUDA runtime Polygraphy can load")
    import numpy as np

    from trtdoctor.smoke.model import sample_inputs

    calib, cache = tmp_path / "calib.npz", tmp_path / "calib.cache"
    np.savez(calib, input=sample_inputs(32, seed=9))
    # the fake first, then whatever made polygraphy and cupy importable here (a --target install)
    path = os.pathsep.join(p for p in (FAKE, str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "FAKE_TRT_VERSION": "10.0.1.6"}  # its cache header: TRT-100001
    res = subprocess.run([sys.executable, "-c", DRIVE, FAKE, str(calib), str(cache)], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    r = json.loads(res.stdout.strip().splitlines()[-1])
    assert r["base"][:2] == ["IInt8EntropyCalibrator2", "IInt8Calibrator"]
    assert r["cache_before"] is None and r["batch_size"] == 1
    assert r["same"] == [True] * 4  # every batch, on the device, exactly as in the .npz
    assert r["rep1"]["cache_written"] is True and r["rep1"]["batches"] == 4 and r["rep1"]["synthetic"] is False
    assert r["cache_file"] == "TRT-100001-EntropyCalibration2\ninput: 3c010a14\n"
    assert r["plan2"]["cache_used"] is True and r["plan2"]["batches"] == 0
    assert (r["rep2"]["cache_reused"], r["rep2"]["cache_written"], r["rep2"]["data"]) == (True, False, None)
    assert r["plan3"]["algorithm"] == "MINMAX_CALIBRATION" and r["plan3"]["batches"] == 4
    assert all(p[0] for p in r["plan3"]["pointers"]) and r["rep3"]["cache"] is None
