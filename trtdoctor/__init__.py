"""trtdoctor: find out why a machine's TensorRT stack does not work, and fix it."""

__version__ = "0.1.0"
