"""A model's inputs and outputs as its graph declares them, the shape profile in trtexec's
grammar (``--shapes``, ``--min-shapes``, ``--opt-shapes``, ``--max-shapes``), and the feeds:
a user's ``--input-data FILE.npz`` or seeded random data of each input's own dtype.
Nothing here assumes a name, a layout or a rank."""

from __future__ import annotations

from dataclasses import dataclass

from .backends import SmokeError, first_line


class BadInput(SmokeError):
    """The user's model, shapes or data are wrong: one line and exit 2, not a failed smoke."""


# ONNX TensorProto element types that TensorRT and onnxruntime both take as model inputs.
ONNX_DTYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool"}


@dataclass(frozen=True)
class TensorSpec:
    """``dims``: an int for a static dim, the symbol (or None) for a dynamic one."""

    name: str
    dtype: str
    dims: tuple

    @property
    def dynamic(self) -> list[int]:
        return [i for i, d in enumerate(self.dims) if not isinstance(d, int)]

    def to_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "dims": [d if isinstance(d, int) else (d or "?") for d in self.dims]}


def _spec(value_info) -> TensorSpec:
    t = value_info.type
    if not t.HasField("tensor_type"):
        raise BadInput(f"{value_info.name!r} is not a tensor (sequences and maps are not supported)")
    tt = t.tensor_type
    dtype = ONNX_DTYPES.get(tt.elem_type)
    if dtype is None:
        raise BadInput(f"{value_info.name!r} has ONNX element type {tt.elem_type}, which the smoke cannot feed")
    if not tt.HasField("shape"):
        raise BadInput(f"{value_info.name!r} has no shape in the graph; re-export the model with shapes")
    dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or None) for d in tt.shape.dim)
    return TensorSpec(value_info.name, dtype, dims)


def describe(model) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The graph inputs that are fed (initializers are not), and the outputs."""
    inits = {i.name for i in model.graph.initializer}
    ins = [_spec(v) for v in model.graph.input if v.name not in inits]
    outs = [_spec(v) for v in model.graph.output]
    if not ins or not outs:
        raise BadInput("the model has no inputs" if not ins else "the model has no outputs")
    return ins, outs


def parse_shapes(text: str | None, option: str = "--shapes") -> dict[str, tuple[int, ...]]:
    """``name:1x384x384x3[,name2:...]`` as trtexec takes it; the name is what comes before
    the last ``:`` (names may hold colons), optionally in single quotes."""
    if not text:
        return {}
    out: dict[str, tuple[int, ...]] = {}
    for part in text.split(","):
        name, sep, dims = part.strip().rpartition(":")
        name = name.strip("'")
        if not sep or not name:
            raise BadInput(f"{option} {part.strip()[:60]!r}: expected NAME:DIMxDIM..., e.g. input_1:1x384x384x3")
        try:
            shape = tuple(int(d) for d in dims.split("x"))
        except ValueError:
            raise BadInput(f"{option} {part.strip()[:60]!r}: dims must be whole numbers joined by 'x'") from None
        if any(d < 1 for d in shape):
            raise BadInput(f"{option} {part.strip()[:60]!r}: every dim must be at least 1")
        if name in out:
            raise BadInput(f"{option} names {name!r} twice")
        out[name] = shape
    return out


@dataclass(frozen=True)
class Profile:
    """One optimization profile: per input, (min, opt, max); the run uses opt."""

    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]

    def opt(self) -> dict[str, tuple[int, ...]]:
        return {k: v[1] for k, v in self.shapes.items()}

    def to_dict(self) -> dict:
        return {k: {"min": list(a), "opt": list(b), "max": list(c)} for k, (a, b, c) in self.shapes.items()}


def resolve(specs: list[TensorSpec], batch: int, shapes=None, mins=None, opts=None, maxs=None) -> Profile:
    """--shapes fixes an input; --min/opt/max-shapes give its range (all three, as trtexec
    wants); otherwise static dims stay and a dynamic first dim runs 1 / batch / 2×batch."""
    shapes, mins, opts, maxs = shapes or {}, mins or {}, opts or {}, maxs or {}
    known = {s.name for s in specs}
    for option, given in (("--shapes", shapes), ("--min-shapes", mins), ("--opt-shapes", opts), ("--max-shapes", maxs)):
        for name in given:
            if name not in known:
                raise BadInput(f"{option} names {name!r}, which is no input of the model (inputs: {', '.join(sorted(known))})")
    return Profile({s.name: _range(s, batch, shapes, mins, opts, maxs) for s in specs})


def _range(s: TensorSpec, batch: int, shapes, mins, opts, maxs):
    ranged = [s.name in given for given in (mins, opts, maxs)]
    if s.name in shapes:
        if any(ranged):
            raise BadInput(f"{s.name!r} is in --shapes and in --min/opt/max-shapes; give one or the other")
        trio = (shapes[s.name],) * 3
    elif any(ranged):
        if not all(ranged):
            raise BadInput(f"{s.name!r} needs all three of --min-shapes, --opt-shapes and --max-shapes")
        trio = (mins[s.name], opts[s.name], maxs[s.name])
    else:
        trio = _default(s, batch)
    for shape in trio:
        _check_fits(s, shape)
    if not all(a <= b <= c for a, b, c in zip(*trio)):
        raise BadInput(f"{s.name!r}: min {_fmt(trio[0])} ≤ opt {_fmt(trio[1])} ≤ max {_fmt(trio[2])} must hold in every dim")
    return trio


def _default(s: TensorSpec, batch: int):
    late = [i for i in s.dynamic if i > 0]
    if late:
        i = late[0]
        raise BadInput(f"{s.name!r} dim {i} is dynamic ({s.dims[i] or '?'}); give its size, e.g. --shapes {s.name}:{_fmt(_example(s, batch))}")
    if not s.dynamic:
        return (tuple(s.dims),) * 3
    rest = tuple(s.dims[1:])
    return ((1, *rest), (batch, *rest), (max(batch, 1) * 2, *rest))


def _example(s: TensorSpec, batch: int) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else (batch if i == 0 else 224) for i, d in enumerate(s.dims))


def _check_fits(s: TensorSpec, shape: tuple[int, ...]) -> None:
    if len(shape) != len(s.dims):
        raise BadInput(f"{s.name!r} has rank {len(s.dims)} ({_fmt(s.dims)}), but a shape of rank {len(shape)} ({_fmt(shape)}) was given")
    for i, (want, got) in enumerate(zip(s.dims, shape)):
        if isinstance(want, int) and want != got:
            raise BadInput(f"{s.name!r} dim {i} is fixed at {want} in the model, but {got} was given")


def _fmt(dims) -> str:
    return "x".join(str(d) if isinstance(d, int) else (d or "?") for d in dims)


def random_feeds(specs: list[TensorSpec], shapes: dict[str, tuple[int, ...]], seed: int = 1) -> dict:
    """Seeded data of each input's dtype: normal floats, small non-negative integers (safe as
    indices or token ids), booleans half true."""
    import numpy as np

    rng = np.random.default_rng(seed)
    feeds = {}
    for s in specs:
        shape = shapes[s.name]
        if s.dtype == "bool":
            feeds[s.name] = rng.random(shape) < 0.5
        elif s.dtype.startswith(("int", "uint")):
            feeds[s.name] = rng.integers(0, 4, size=shape).astype(s.dtype)
        else:
            feeds[s.name] = rng.standard_normal(shape).astype("float32" if s.dtype == "bfloat16" else s.dtype)
    return feeds


def load_npz(path: str, what: str = "--input-data"):
    """An .npz file as a dict of arrays; any failure to read it is the user's, in one line."""
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise BadInput(f"{what} {path}: not a readable .npz file ({first_line(exc)})") from None


def user_feeds(specs: list[TensorSpec], profile: Profile, arrays: dict, what: str = "--input-data", check_profile: bool = True) -> dict:
    """The user's arrays: every input present, cast to its dtype, its shape inside the
    profile (without check_profile, the first axis is samples and may hold any number)."""
    missing = [s.name for s in specs if s.name not in arrays]
    if missing:
        raise BadInput(f"{what} lacks {', '.join(missing)} (it has: {', '.join(sorted(arrays)) or 'nothing'})")
    feeds = {}
    for s in specs:
        a = arrays[s.name]
        lo, _, hi = profile.shapes[s.name]
        first = 0 if check_profile else 1
        if a.ndim != len(lo) or not all(x <= y <= z for x, y, z in list(zip(lo, a.shape, hi))[first:]):
            raise BadInput(f"{what} {s.name!r} has shape {_fmt(a.shape)}, outside the profile {_fmt(lo)} … {_fmt(hi)}")
        if s.dtype.startswith(("int", "uint", "bool")) and a.dtype.kind == "f":
            raise BadInput(f"{what} {s.name!r} holds floats, but the model takes {s.dtype}")
        feeds[s.name] = a.astype("float32" if s.dtype == "bfloat16" else s.dtype, copy=False)
    return feeds


def batch_of(feeds: dict) -> int:
    """Items per run: the first dim of the first input (1 for a scalar input)."""
    first = next(iter(feeds.values()))
    return int(first.shape[0]) if first.ndim else 1
