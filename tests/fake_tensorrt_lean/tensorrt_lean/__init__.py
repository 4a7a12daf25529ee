"""FAKE tensorrt_lean, for tests only: the lean runtime's surface (it deserializes, it cannot
build) re-exported from the fake tensorrt, loaded by path so that ``import tensorrt`` still fails."""

import importlib.util
import os

_spec = importlib.util.spec_from_file_location("_fake_tensorrt", os.path.join(os.path.dirname(__file__), "..", "..", "fake_tensorrt", "tensorrt", "__init__.py"))
_fake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fake)

__version__, ILogger, Logger, Runtime = _fake.__version__, _fake.ILogger, _fake.Logger, _fake.Runtime
