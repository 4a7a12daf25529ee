"""FAKE TensorRT, for tests only: a full TensorRT cannot be installed in this workplace.

It mimics the small part of the Python API that trtdoctor's builder path calls, with the
version-dependent differences that matter (TensorRT 11 has no FP16/INT8 builder flags and
a STRONGLY_TYPED network flag). It builds nothing: the "plan" is JSON describing what was
asked, so tests can assert on it. Version from FAKE_TRT_VERSION; FAKE_TRT_REFUSE makes
deserialization fail the way TensorRT-RTX does on an unsupported GPU. Bytes that are not such a
plan (no MAGIC) deserialize to None with the message a real TensorRT logs for junk.
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


class OnnxParser:
    def __init__(self, network, logger):
        self.network, self.num_errors = network, 0
        self.logger = logger

    def parse(self, data):
        import onnx

        model = onnx.load_from_string(data)
        self.network.input_dtype = onnx.helper.tensor_dtype_to_np_dtype(model.graph.input[0].type.tensor_type.elem_type).name
        _warn_int64(self.logger, model)
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
