"""YAML loading that remembers the line of every mapping key, so errors can name file, key and line."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shared.errors import SpecError


class LineDict(dict):
    """A dict that knows the 1-based source line of each of its keys (``.line_of(key)``)."""

    lines: dict[Any, int]

    def line_of(self, key: Any) -> int | None:
        return getattr(self, "lines", {}).get(key)


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    explicit: set = set()
    for key_node, _ in node.value:  # duplicates among the written keys are errors; merged (<<) keys may be overridden
        if key_node.tag != "tag:yaml.org,2002:merge":
            if key_node.value in explicit:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key_node.value!r}",
                                                        key_node.start_mark)
            explicit.add(key_node.value)
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> LineDict:
    """Parse ``path``; a missing file, a YAML syntax error or a non-mapping top level is a ``SpecError``."""
    if not path.is_file():
        raise SpecError(str(path), "<file>", "file not found")
    try:
        data = yaml.load(path.read_text(), Loader=_LineLoader)  # noqa: S506 (SafeLoader subclass)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise SpecError(str(path), "<yaml>", f"not valid YAML: {getattr(err, 'problem', err)}", line) from None
    if not isinstance(data, dict):
        raise SpecError(str(path), "<top level>", "must be a mapping")
    return data
