"""FAKE TensorRT, for tests only: a full TensorRT cannot be installed in this workplace.

It mimics the small part of the Python API that trtdoctor's builder path calls, with the
version-dependent differences that matter (TensorRT 11 has no FP16/INT8 builder flags and
a STRONGLY_TYPED network flag). It builds nothing: the "plan" is JSON describing what was
asked, so tests can assert on it. Version from FAKE_TRT_VERSION; FAKE_TRT_REFUSE makes
deserialization fail the way TensorRT-RTX does on an unsupported GPU. Bytes that are not such a
plan (no MAGIC) deserialize to None with the message a real TensorRT logs for junk. Below 11 it
has the INT8 calibrator base classes, and its builder drives a set calibrator as TensorRT does.
"""

import enum
import json
import os

__version__ = os.environ.get("FAKE_TRT_VERSION", "10.13.3.9")
_MAJOR = int(__version__.split(".")[0])


MAGIC = b'{"fake": true'  # how every plan the fake builder writes begins


class _Severity(enum.IntEnum):
    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)


class ILogger:
    Severity = _Severity
    WARNING, ERROR = _Severity.WARNING, _Severity.ERROR

    def __init__(self):
        pass


class Logger(ILogger):
    def __init__(self, severity=2):
        self.messages = []

    def log(self, severity, msg):
        self.messages.append(msg)


class NetworkDefinitionCreationFlag(enum.IntEnum):
    EXPLICIT_BATCH = 0
    if _MAJOR >= 10:
        STRONGLY_TYPED = 1


BuilderFlag = enum.IntEnum("BuilderFlag", ["TF32"] + ([] if _MAJOR >= 11 else ["FP16", "INT8"]))


class _Network:
    def __init__(self, flags):
        self.flags = flags
        self.input_dtype = None
        self.input_names, self.qdq_nodes = [], 0


class OnnxParser:
    def __init__(self, network, logger):
        self.network, self.num_errors = network, 0
        self.logger = logger

    def parse(self, data):
        import onnx

        model = onnx.load_from_string(data)
        self.network.input_dtype = onnx.helper.tensor_dtype_to_np_dtype(model.graph.input[0].type.tensor_type.elem_type).name
        _warn_int64(self.logger, model)
        inits = {i.name for i in model.graph.initializer}
        self.network.input_names = [i.name for i in model.graph.input if i.name not in inits]
        self.network.qdq_nodes = sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node)
        return True


# --- builder log and workspace (smoke sweeps: build.warnings, --verbose, --workspace) ---------
# The line TensorRT 8's ONNX parser logs once per INT64 initializer (copied from real logs in
# onnx/onnx-tensorrt#432 and NVIDIA/TensorRT#284); the INFO and VERBOSE lines are ones real
# builders log (NVIDIA/TensorRT#3747 and trtexec --verbose logs).
INT64_WARNING = "onnx2trt_utils.cpp:198: Your ONNX model has been generated with INT64 weights, while TensorRT does not natively support INT64. Attempting to cast down to INT32."
INFO_LINE = "[MemUsageChange] Init CUDA: CPU +2, GPU +0, now: CPU 19, GPU 423 (MiB)"


def _warn_int64(logger, model):
    for init in model.graph.initializer:
        if init.data_type == 7:  # TensorProto.INT64
            logger.log(ILogger.Severity.WARNING, INT64_WARNING)


class MemoryPoolType(enum.IntEnum):
    WORKSPACE, DLA_MANAGED_SRAM, DLA_LOCAL_DRAM, DLA_GLOBAL_DRAM, TACTIC_DRAM, TACTIC_SHARED_MEMORY = range(6)


# --- end of builder log and workspace --------------------------------------------------------


class _Profile:
    def __init__(self):
        self.shapes = {}

    def set_shape(self, name, lo, opt, hi):
        self.shapes[name] = [list(lo), list(opt), list(hi)]


class _TimingCache:
    def __init__(self, blob):
        self.blob = blob

    def serialize(self):
        return b"fake-timing-cache"


class _Config:
    def __init__(self):
        self.flags, self.profiles, self.int8_calibrator, self.cache = set(), [], None, None
        self.pools = {}

    def set_memory_pool_limit(self, pool, size):
        self.pools[MemoryPoolType(pool).name] = int(size)

    def set_flag(self, flag):
        self.flags.add(flag.name)

    def get_flag(self, flag):
        return flag.name in self.flags

    def add_optimization_profile(self, p):
        self.profiles.append(p)

    def create_timing_cache(self, blob):
        return _TimingCache(blob)

    def set_timing_cache(self, cache, ignore_mismatch):
        self.cache = cache

    def get_timing_cache(self):
        return self.cache


class Builder:
    def __init__(self, logger):
        self.logger = logger
        logger.log(ILogger.Severity.INFO, INFO_LINE)

    def create_network(self, flags=0):
        return _Network(flags)

    def create_builder_config(self):
        return _Config()

    def create_optimization_profile(self):
        return _Profile()

    def build_serialized_network(self, network, config):
        self.logger.log(ILogger.Severity.VERBOSE, "Original: 7 layers")
        calibration = None
        if "INT8" in config.flags and config.int8_calibrator is not None:
            calibration = _calibrate(config.int8_calibrator, network.input_names)
            if calibration is None:
                self.logger.log(ILogger.ERROR, "Calibration failure occurred with no scaling factors detected. This could be due to no int8 calibrator or insufficient custom scales for network layers.")
                return None
        return json.dumps(
            {
                "fake": True,
                "version": __version__,
                "network_flags": network.flags,
                "input_dtype": network.input_dtype,
                "builder_flags": sorted(config.flags),
                "profiles": [p.shapes for p in config.profiles],
                "calibrator": config.int8_calibrator is not None,
                "memory_pool_limits": config.pools,
                "calibration": calibration,
                "qdq_nodes": network.qdq_nodes,
            }
        ).encode()


class Runtime:
    def __init__(self, logger):
        self.logger = logger

    def deserialize_cuda_engine(self, plan):
        if os.environ.get("FAKE_TRT_REFUSE"):
            self.logger.log(ILogger.ERROR, "The engine cannot run on this GPU, which has compute capability 9.0.")
            return None
        if not bytes(plan).startswith(MAGIC):  # the start of what a real lean runtime logged for junk on an H100
            self.logger.log(ILogger.ERROR, "IRuntime::deserializeCudaEngine: Error Code 1: Serialization (Serialization assertion plan.header.size == blobSize failed.)")
            return None
        return json.loads(plan)


# --- INT8 calibration (implicit quantization; TensorRT 11 removed it) ----------------------------
# The builder drives a set calibrator as TensorRT documents: read_calibration_cache(); a cache
# whose header names this version and the calibrator's algorithm is used as is; otherwise
# get_batch_size(), then get_batch(input names) until it returns None, then
# write_calibration_cache(buffer). What it saw goes into the plan's "calibration".

if _MAJOR < 11:

    class CalibrationAlgoType(enum.IntEnum):
        LEGACY_CALIBRATION, ENTROPY_CALIBRATION, ENTROPY_CALIBRATION_2, MINMAX_CALIBRATION = range(4)

    class IInt8Calibrator:
        def __init__(self):
            pass

    class IInt8LegacyCalibrator(IInt8Calibrator):
        def get_algorithm(self):
            return CalibrationAlgoType.LEGACY_CALIBRATION

    class IInt8EntropyCalibrator(IInt8Calibrator):
        def get_algorithm(self):
            return CalibrationAlgoType.ENTROPY_CALIBRATION

    class IInt8EntropyCalibrator2(IInt8Calibrator):
        def get_algorithm(self):
            return CalibrationAlgoType.ENTROPY_CALIBRATION_2

    class IInt8MinMaxCalibrator(IInt8Calibrator):
        def get_algorithm(self):
            return CalibrationAlgoType.MINMAX_CALIBRATION

    _CACHE_NAMES = {"LEGACY_CALIBRATION": "LegacyCalibration", "ENTROPY_CALIBRATION": "EntropyCalibration", "ENTROPY_CALIBRATION_2": "EntropyCalibration2", "MINMAX_CALIBRATION": "MinMaxCalibration"}

    def _cache_header(calibrator) -> bytes:
        major, minor, patch = (int(x) for x in __version__.split(".")[:3])
        return f"TRT-{major * 10000 + minor * 100 + patch}-{_CACHE_NAMES[calibrator.get_algorithm().name]}".encode()

    def _calibrate(calibrator, names):
        header = _cache_header(calibrator)
        cached = calibrator.read_calibration_cache()
        if cached and bytes(cached).split(b"\n", 1)[0] == header:
            return {"algorithm": calibrator.get_algorithm().name, "cache_used": True, "batches": 0, "pointers": []}
        calibrator.get_batch_size()
        pointers = []
        while (ptrs := calibrator.get_batch(names)) is not None:
            pointers.append([int(p) for p in ptrs])
        if not pointers:
            return None
        body = header + b"\n" + b"".join(f"{n}: 3c010a14\n".encode() for n in names)
        calibrator.write_calibration_cache(memoryview(body))  # TensorRT hands over a buffer, not bytes
        return {"algorithm": calibrator.get_algorithm().name, "cache_used": False, "batches": len(pointers), "pointers": pointers}

    def _set_calibration_profile(config, profile):
        config.calibration_profile = profile

    _Config.set_calibration_profile = _set_calibration_profile
