"""The key reference of docs/configuration.md, generated from the settings' field docstrings.

``python -m gateway.configdoc`` rewrites the generated part of the file (between its two marker
comments); ``tests/unit/test_configuration_docs.py`` fails when the file and the docstrings differ.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import inspect
import itertools
import sys
import typing
from pathlib import Path
from typing import Any

from gateway import config

BEGIN = "<!-- generated from gateway/config.py by `python -m gateway.configdoc`: do not edit -->"
END = "<!-- end of generated reference -->"

TABLES: tuple[tuple[type, str, str], ...] = (
    (config.Settings, "Top-level keys (or under `[gateway]`)", ""),
    (config.UpstreamSettings, "`[[upstream]]` tables", "upstream"),
    (config.RouteRule, "`[[route]]` tables", "route"),
    (config.TrustDomainSettings, "`[[trust_domain]]` tables", "trust_domain"),
)


def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string literal written under it), as one line."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for before, after in itertools.pairwise(body):
        if (
            isinstance(before, ast.AnnAssign)
            and isinstance(before.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[before.target.id] = " ".join(after.value.value.split()).replace("``", "`")
    return docs


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return " \\| ".join(f"`{m.value}`" for m in hint)
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(hint)[0])}"
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if args and len(args) < len(typing.get_args(hint)):
        return f"{_type_name(args[0])} (optional)"
    return {bool: "true/false", int: "integer", float: "number", str: "text", Path: "path"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is dataclasses.MISSING:
        return "required"
    value = f.default
    if value is None:
        return "unset"
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value in ("", ()):
        return "empty"
    if isinstance(value, Path):
        return f"`{value}`"
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"


def _bounds(f: dataclasses.Field[Any]) -> str:
    low, high, above = (f.metadata.get(k) for k in ("min", "max", "above"))
    if low is not None and high is not None:
        return f" Between {low} and {high}."
    if low is not None:
        return f" At least {low}."
    if above is not None:
        return f" More than {above}."
    return ""


def render() -> str:
    """The generated reference: one table per kind of table in the file."""
    out = [BEGIN, ""]
    for cls, title, _ in TABLES:
        docs = field_docs(cls)
        hints = typing.get_type_hints(cls)
        out += [f"### {title}", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for f in dataclasses.fields(cls):
            if "table" in f.metadata:
                continue
            meaning = (docs.get(f.name, "") + _bounds(f)).replace("|", "\\|")
            out.append(f"| `{f.name}` | {_type_name(hints[f.name])} | {_default(f)} | {meaning} |")
        out.append("")
    out.append(END)
    return "\n".join(out)


def undocumented() -> list[str]:
    """Keys of any settings table that have no docstring."""
    return [
        f"{table or 'gateway'}.{f.name}"
        for cls, _, table in TABLES
        for f in dataclasses.fields(cls)
        if f.name not in field_docs(cls)
    ]


def update(text: str) -> str:
    """``text`` (the whole of docs/configuration.md) with its generated part rewritten."""
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError("docs/configuration.md has lost its generated-part markers")
    return head + render() + tail


def main(argv: list[str] | None = None) -> int:
    path = Path((argv or sys.argv[1:] or ["docs/configuration.md"])[0])
    path.write_text(update(path.read_text("utf-8")), "utf-8")
    print(f"{path}: reference regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
