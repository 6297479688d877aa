"""Checks shared by the stages' config sections (each stage's frozen settings dataclass, ``SECTION``).

Every check fails with one PipelineError line naming ``<section>.<key>`` and the value it got. Sequences come
from TOML and ``--set`` as lists; ``check_seq`` stores them as tuples so that the config stays hashable.
"""
from __future__ import annotations

from dataclasses import fields

from pipeline.errors import PipelineError


def check_ints(obj, where: str, minimum: int = 0, names=None) -> None:
    """Each named field (default: every field annotated int) is an integer >= minimum (bools are not)."""
    for name in names or [f.name for f in fields(obj) if f.type in ("int", int)]:
        v = getattr(obj, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise PipelineError(f"config: {where}.{name} must be an integer >= {minimum}, got {v!r}")


def check_bools(obj, where: str, names=("enabled",)) -> None:
    for name in names:
        v = getattr(obj, name)
        if not isinstance(v, bool):
            raise PipelineError(f"config: {where}.{name} must be true or false, got {v!r}")


def check_seq(obj, where: str, name: str, ok, want: str, allow_empty: bool = False) -> None:
    """Field ``name`` is a list or tuple of distinct values that each pass ``ok`` (non-empty unless
    ``allow_empty``); stored as a tuple. ``want`` completes "must be ..." in the error."""
    value = getattr(obj, name)
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or (not value and not allow_empty) \
            or not all(ok(v) for v in value) or len(set(value)) != len(value):
        raise PipelineError(f"config: {where}.{name} must be {want}, got {value!r}")
    object.__setattr__(obj, name, tuple(value))


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
