#!/usr/bin/env python3
"""Write the published JSON Schemas (draft 2020-12) from the TypedDicts in trtdoctor/snapshot.py.

    python scripts/make_schemas.py        # rewrites trtdoctor/schemas/*.json

tests/test_schemas.py checks that the files still match. The mapping:

- ``str``/``int``/``float``/``bool``/``None`` → ``"type"`` string/integer/number/boolean/null
- ``Optional[X]``/``Union[...]`` → one ``"type"`` list when every member is a plain type,
  else ``anyOf``
- ``List[X]`` → array of X; ``Dict[str, X]`` → object whose values are X (an ``Annotated``
  key type becomes ``propertyNames``)
- a TypedDict → ``{"$ref": "#/$defs/<Name>"}``; the definition lists every key (its bases'
  too) under ``properties``, the required ones under ``required``, the class docstring as
  ``description``; other keys are allowed unless the class is ``@closed``
- ``Literal[...]`` → ``const``/``enum``; ``Annotated[X, JSONSchema(...)]`` adds keywords
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Literal, Union, get_args, get_origin, get_type_hints

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from trtdoctor import snapshot  # noqa: E402
from trtdoctor.snapshot import JSONSchema  # noqa: E402

try:  # Python 3.10+: X | Y
    from types import UnionType
except ImportError:  # pragma: no cover - 3.9
    UnionType = Union

try:
    from typing import Annotated
except ImportError:  # pragma: no cover - 3.8
    Annotated = None

DRAFT = "https://json-schema.org/draft/2020-12/schema"
OUT_DIR = REPO / "trtdoctor" / "schemas"
DOCUMENTS = {
    "report-1.json": (snapshot.Report, "trtdoctor.report/1"),
    "plan-1.json": (snapshot.Plan, "trtdoctor.plan/1"),
    "smoke-1.json": (snapshot.SmokeReport, "trtdoctor.smoke/1"),
    "fleet-1.json": (snapshot.FleetReport, "trtdoctor.fleet/1"),
}
PRIMITIVES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
# Keywords that only constrain one JSON type, so members carrying them can share a "type" list.
_TYPE_SCOPED = {"pattern", "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems"}


def is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


class Generator:
    def __init__(self) -> None:
        self.defs: dict[str, dict] = {}

    def schema(self, tp: Any) -> dict:
        if tp is Any:
            return {}
        if tp in PRIMITIVES:
            return {"type": PRIMITIVES[tp]}
        origin = get_origin(tp)
        args = get_args(tp)
        if Annotated is not None and origin is Annotated:
            out = dict(self.schema(args[0]))
            for meta in args[1:]:
                if isinstance(meta, JSONSchema):
                    out.update(meta.keywords)
            return out
        if origin is Literal:
            return self.literal(args)
        if origin is Union or origin is UnionType:
            return self.union([self.schema(a) for a in args])
        if origin in (list, List):
            return {"type": "array", "items": self.schema(args[0])}
        if origin in (dict, Dict):
            key, value = args
            out = {"type": "object"}
            key_schema = self.schema(key)
            if key_schema.get("type") != "string":
                raise TypeError(f"JSON object keys are strings, not {key!r}")
            extra = {k: v for k, v in key_schema.items() if k != "type"}
            if extra:
                out["propertyNames"] = extra
            out["additionalProperties"] = self.schema(value)
            return out
        if is_typeddict(tp):
            return self.ref(tp)
        raise TypeError(f"no JSON Schema mapping for {tp!r}")

    @staticmethod
    def literal(values: tuple) -> dict:
        types = sorted({PRIMITIVES[type(v)] for v in values})
        out: dict = {"type": types[0] if len(types) == 1 else types}
        if len(values) == 1:
            out["const"] = values[0]
        else:
            out["enum"] = list(values)
        return out

    @staticmethod
    def union(members: list[dict]) -> dict:
        """One "type" list where every member is a plain type, else anyOf."""
        plain = all(set(m) <= {"type"} | _TYPE_SCOPED and isinstance(m.get("type"), str) for m in members)
        types = [m["type"] for m in members] if plain else []
        extras: dict = {}
        if plain and len(set(types)) == len(types):
            for m in members:
                for k, v in m.items():
                    if k != "type":
                        if k in extras and extras[k] != v:
                            plain = False
                        extras[k] = v
            if plain:
                return {"type": types, **extras}
        return {"anyOf": members}

    def ref(self, tp: type) -> dict:
        name = tp.__name__
        if name not in self.defs:
            self.defs[name] = {}  # placeholder: a record may refer to itself
            self.defs[name] = self.record(tp)
        return {"$ref": f"#/$defs/{name}"}

    def record(self, tp: type) -> dict:
        hints = get_type_hints(tp, include_extras=True)
        out: dict = {"type": "object"}
        if tp.__doc__:
            out["description"] = " ".join(inspect.cleandoc(tp.__doc__).split())
        out["properties"] = {k: self.schema(v) for k, v in hints.items()}
        required = [k for k in hints if k in tp.__required_keys__]
        if required:
            out["required"] = required
        if getattr(tp, "__closed__", False):
            out["additionalProperties"] = False
        return out


def document(tp: type, title: str) -> dict:
    """The schema of one document type: its own record at the top, the records it uses in $defs."""
    gen = Generator()
    root = gen.record(tp)
    return {"$schema": DRAFT, "title": title, **root, "$defs": dict(sorted(gen.defs.items()))}


def dumps(schema: dict) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """File name → file text, for every published schema."""
    return {name: dumps(document(tp, title)) for name, (tp, title) in DOCUMENTS.items()}


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in generate().items():
        path = OUT_DIR / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(REPO)}")
        else:
            print(f"unchanged {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
