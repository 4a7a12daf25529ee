"""Probes gather facts and judge nothing (see registry.py for the list and how they run).

The package imports nothing itself, so ``probes.live_gpu`` can start its slow children
before the other probes (and the YAML knowledge base) are even imported."""

from __future__ import annotations

_REGISTRY = ("Probe", "PROBES", "collect", "probes_for")


def __getattr__(name: str):
    if name in _REGISTRY:
        from . import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
