"""Reading untrusted YAML: safe tags only, YAML 1.2 scalars, no duplicate keys, and bounds on what
a small file may stand for.

Anchors and aliases are allowed, but an alias is a reference, so a few hundred bytes can describe a
value with billions of items (an "alias bomb"). The composer therefore counts each node's size
once aliases are expanded and refuses a document holding more than ``MAX_VALUES`` values or
nested deeper than ``MAX_DEPTH`` levels, before anything walks the expanded value. Events come
from libyaml (C) when PyYAML was built with it, else from PyYAML's pure-Python parser; both feed
the same Python composer and the same safe constructor, so no YAML tag can run code.
"""

from __future__ import annotations

import re
from itertools import chain
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, ScalarNode
from yaml.resolver import Resolver

from ..quoting import quote

MAX_DEPTH = 32  # nesting levels of lists and mappings, aliases expanded
MAX_VALUES = 1_000_000  # scalars, lists and mappings (keys included), aliases expanded
_MERGE = "tag:yaml.org,2002:merge"


class YAMLRefused(yaml.MarkedYAMLError):
    """Valid YAML that kinetix will not read: too deep, too large once aliases are expanded, or a
    mapping that gives a key twice. ``problem`` and ``fix`` are one phrase each."""

    def __init__(self, problem: str, mark, fix: str):
        super().__init__(problem=problem, problem_mark=mark)
        self.fix = fix


class _Resolver(Resolver):
    """YAML 1.2 scalars: only true/false are booleans (species ``NO`` stays text) and ``1e5`` is
    a number."""


_Resolver.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in Resolver.yaml_implicit_resolvers.items()
}
_Resolver.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                list("tTfF"))
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


class _BoundedComposer(Composer):
    """PyYAML's composer, keeping each node's expanded size and depth and refusing excess."""

    def __init__(self):
        super().__init__()
        self._shape: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth), aliases expanded
        self._open = 0  # collections being composed right now

    def compose_node(self, parent, index):
        mark = self.peek_event().start_mark
        self._open += 1
        if self._open > MAX_DEPTH + 1:  # a collection at depth MAX_DEPTH holds scalars at MAX_DEPTH + 1
            raise YAMLRefused(f"nested more than {MAX_DEPTH} levels deep", mark, "a mechanism needs a handful")
        node = super().compose_node(parent, index)
        self._open -= 1
        if id(node) not in self._shape:
            if not isinstance(node, ScalarNode):  # only an alias to a collection still open
                raise YAMLRefused("an alias refers to a list or mapping that contains it", mark,
                                  "write the value out")
            self._shape[id(node)] = (1, 0)
        return node

    def compose_sequence_node(self, anchor):
        node = super().compose_sequence_node(anchor)
        return self._measured(node, node.value)

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        return self._measured(node, chain.from_iterable(node.value))

    def _measured(self, node, children):
        values, depth = 1, 0
        for child in children:
            child_values, child_depth = self._shape[id(child)]
            values += child_values
            depth = max(depth, child_depth)
        if values > MAX_VALUES:
            raise YAMLRefused(f"this value holds more than {MAX_VALUES:,} values once aliases are expanded",
                              node.start_mark, "write the values out or use fewer aliases")
        if depth + 1 > MAX_DEPTH:
            raise YAMLRefused(f"nested more than {MAX_DEPTH} levels deep once aliases are expanded",
                              node.start_mark, "a mechanism needs a handful")
        self._shape[id(node)] = (values, depth + 1)
        return node


class _Constructor(SafeConstructor):
    """PyYAML's safe constructor, refusing duplicate keys and turning value errors (a date like
    2001-13-45, an integer too long to convert) into YAML errors with a line."""

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as error:
            value = node.value if isinstance(node, ScalarNode) else node.tag
            raise ConstructorError(None, None, f"cannot read {quote(value)} ({error})", node.start_mark) from None

    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    seen = key in first_line
                except TypeError:  # unhashable: the base class says so
                    continue
                if seen:
                    raise YAMLRefused(f"duplicate key {quote(key)} (first on line {first_line[key]})",
                                      key_node.start_mark, "give each key once")
                first_line[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


class _PurePythonLoader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, _BoundedComposer,
                        _Constructor, _Resolver):
    def __init__(self, stream: str):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        _BoundedComposer.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)


if yaml.__with_libyaml__:
    from yaml.cyaml import CParser

    class _LibyamlLoader(_BoundedComposer, CParser, _Constructor, _Resolver):
        """libyaml's events; the composer comes first so that libyaml's own (unbounded, and
        recursive in C) composer is never used."""

        def __init__(self, stream: str):
            CParser.__init__(self, stream)
            _BoundedComposer.__init__(self)
            _Constructor.__init__(self)
            _Resolver.__init__(self)

    LOADERS = (_LibyamlLoader, _PurePythonLoader)
else:
    LOADERS = (_PurePythonLoader,)


def load(text: str, loader: type = LOADERS[0]) -> Any:
    """The single document in ``text`` (``None`` if empty). Raises ``yaml.YAMLError``:
    :class:`YAMLRefused` for documents beyond the bounds, others for invalid YAML."""
    try:
        parser = loader(text)
    except UnicodeEncodeError as error:  # lone surrogates cannot reach libyaml
        raise yaml.YAMLError(f"not UTF-8 text ({error.reason} at character {error.start})") from None
    try:
        return parser.get_single_data()
    finally:
        parser.dispose()
