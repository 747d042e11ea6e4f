"""Mistakes in a YAML file an instructor writes, said with their key path: the rubric's, the overrides', the
samples' expectations. One library, so every file reports ``questions[3].points: expected a number, got 'two'``."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ValidationError


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last."""


def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)


def yaml_error(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    if mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return problem


def describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    return repr(value)


def loc_path(prefix: str, loc: tuple[Any, ...]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


EXPECTED = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "string_type": "expected text",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected a mapping (key: value)",
    "model_type": "expected a mapping (key: value)",
    "model_attributes_type": "expected a mapping (key: value)",
}


def explain(err: ValidationError, prefix: str, model: type[BaseModel]) -> list[tuple[str, str]]:
    out = []
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        path = loc_path(prefix, loc)
        typ = e["type"]
        got = describe(e.get("input"))
        ctx = e.get("ctx") or {}
        if typ == "missing":
            msg = "required key is missing"
        elif typ == "extra_forbidden":
            allowed = allowed_keys(model, loc[:-1])
            msg = "unknown key" + (f" (allowed here: {', '.join(allowed)})" if allowed else "")
        elif typ in EXPECTED:
            msg = f"{EXPECTED[typ]}, got {got}"
        elif typ in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[typ]
            bound = next(iter(ctx.values()), "?")
            if isinstance(bound, float) and bound.is_integer():
                bound = int(bound)
            msg = f"expected a number {op} {bound}, got {got}"
        elif typ == "string_pattern_mismatch":
            msg = f"expected a short id of letters, digits, '_', '.', '-' , got {got}"
        elif typ == "too_short":
            got = "an empty list" if got == "a list" else got
            msg = f"expected at least {ctx.get('min_length', 1)} item(s), got {got}"
        elif typ == "string_too_short":
            msg = f"expected non-empty text, got {got}"
        elif typ == "literal_error":
            msg = f"expected {ctx.get('expected', 'one of the allowed values')}, got {got}"
        elif typ == "value_error":
            msg = str(ctx.get("error", e["msg"]))
        else:
            msg = f"{e['msg'][0].lower()}{e['msg'][1:]}, got {got}"
        out.append((path, msg))
    return out


def allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model found at ``loc`` below ``model`` (best effort)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        ann = fields[part].annotation
        args = getattr(ann, "__args__", None)
        current = args[0] if args else ann
    fields = getattr(current, "model_fields", None)
    if not fields:
        return []
    names = [n for n in fields if n != "params"]
    if getattr(current, "__name__", "") == "CheckSpec":  # a check's own keys, then its kind's
        names = ["kind", "weight", "gate", "veto", "(the kind's parameters)"]
    return names


def dedupe(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen, out = set(), []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out
