"""YAML text to plain Python values, remembering where in the file every value came from.

PyYAML's node graph carries line and column marks that its constructors throw away; we build
values from the nodes ourselves so that every later error can point at ``file:line:column``.
Sequences become tuples (the parsed specs are immutable), duplicate keys are errors (PyYAML
silently keeps the last one), and the merge key ``<<`` works as usual.

Three kinds of scalar are refused wherever they stand, because they would not mean what they
say: numbers in a form other than plain decimal (YAML 1.1 reads ``0100`` as octal 64, ``1:30``
as 90, ``0x10`` as 16, ``.inf`` and ``.nan`` as non-numbers; YAML 1.2 and JSON read some of
them otherwise), booleans other than true/false (YAML 1.1 reads ``yes``, ``no``, ``on``,
``off`` as booleans, YAML 1.2 as text), and strings holding CDK's token markers
(``${Token[...]}``), which CDK would resolve as a reference instead of writing them as text.
Those problems are reported without stopping the document: the rest of it is still checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from llmdeploy.errors import Diagnostic, Written, clip

try:  # the C loader composes nodes several times faster; fall back where libyaml is absent
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class SourceMap:
    """Where each value of one document sits in its file.

    ``values`` maps a field path to the mark of its value, ``keys`` to the mark of its key.
    ``origin`` maps a path of a merged document (environment overrides applied) back to the
    path as written in the file, so that errors name what the user wrote.
    """

    file: str
    values: dict[FieldPath, Mark] = field(default_factory=dict)
    keys: dict[FieldPath, Mark] = field(default_factory=dict)
    origin: dict[FieldPath, FieldPath] = field(default_factory=dict)
    # Scalars as written (text, and whether quoted), so that a fix can quote what the user
    # wrote rather than what YAML made of it (011 is octal 9, 2024-01-01 a date).
    raw: dict[FieldPath, tuple[str, bool]] = field(default_factory=dict)
    # Paths (as written) of scalars refused while reading (a number in a YAML 1.1 form, a CDK
    # token): already reported, so a type error about the same value is not reported again.
    refused: set[FieldPath] = field(default_factory=set)

    def locate(self, path: FieldPath, *, key: bool = False) -> tuple[Mark, FieldPath]:
        """The mark of ``path`` (or of its nearest ancestor that exists) and its written path."""
        probe = tuple(path)
        while True:
            marks = (self.keys, self.values) if key else (self.values, self.keys)
            for table in marks:
                if probe in table:
                    return table[probe], self._written(probe) + tuple(path[len(probe) :])
            if not probe:
                return Mark(1, 1), tuple(path)
            probe = probe[:-1]

    def is_refused(self, path: FieldPath) -> bool:
        """Whether the value at ``path`` (a merged path, too) was refused while reading."""
        return self._written(tuple(path)) in self.refused

    def _written(self, path: FieldPath) -> FieldPath:
        # Only a value that itself came from an override was written there; its siblings
        # under the same merged mapping may come from the base.
        return self.origin.get(path, path)

    def diagnostic(
        self, path: FieldPath, message: str, *, key: bool = False, **extra: Any
    ) -> Diagnostic:
        mark, written = self.locate(path, key=key)
        return Diagnostic(
            file=self.file,
            line=mark.line,
            column=mark.column,
            path=dotted(written),
            message=message,
            **extra,
        )


@dataclass(frozen=True)
class Document:
    """One YAML document of a file: its plain value and where each part of it came from."""

    data: Any
    source: SourceMap
    index: int  # position of the document in its file (files may hold several, split by ---)


def dotted(path: FieldPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


class YamlError(Exception):
    """Raised inside this module only; `parse_documents` turns it into diagnostics."""

    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic


def parse_documents(text: str, file: str) -> tuple[list[Document], list[Diagnostic]]:
    """Every document of ``text`` with its source map, or the diagnostics that stop parsing."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "not valid YAML"
        return [], [
            Diagnostic(
                file=file,
                line=line,
                column=column,
                path="(document)",
                message=f"not valid YAML: {problem}",
                fix="check indentation, quotes and colons near this line",
            )
        ]
    except yaml.reader.ReaderError as exc:  # a control character, before any parsing
        before = text[: exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        return [], [
            Diagnostic(
                file=file,
                line=line,
                column=column,
                path="(document)",
                message=f"not valid YAML: control character U+{exc.character:04X}",
                fix="remove the character (YAML allows tabs and line breaks only)",
            )
        ]
    except yaml.YAMLError as exc:
        return [], [
            Diagnostic(
                file=file,
                line=1,
                column=1,
                path="(document)",
                message=f"not valid YAML: {exc}",
                fix="check the file's syntax",
            )
        ]
    docs: list[Document] = []
    problems: list[Diagnostic] = []
    for index, node in enumerate(nodes):
        if node is None or (
            isinstance(node, yaml.ScalarNode) and node.tag == _NULL and node.value in ("", "~")
        ):
            continue  # an empty document, e.g. after a trailing `---`
        source = SourceMap(file=file)
        builder = _Builder(source)
        try:
            data = builder.build(node, ())
        except YamlError as exc:
            problems.append(exc.diagnostic)
            continue
        except RecursionError:
            problems.append(
                Diagnostic(
                    file=file,
                    line=node.start_mark.line + 1,
                    column=node.start_mark.column + 1,
                    path="(document)",
                    message="the document nests too deeply (recursive alias?)",
                    fix="remove the self-referencing anchor",
                )
            )
            continue
        problems.extend(builder.problems)
        docs.append(Document(data=data, source=source, index=index))
    return docs, problems


_NULL = "tag:yaml.org,2002:null"
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}"
    for t in ("null", "bool", "int", "float", "str", "timestamp", "map", "seq", "merge")
)
MAX_NODES = 100_000  # a spec is hundreds of values; more means an alias "billion laughs"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"

# The only number forms a spec takes: what YAML 1.1, YAML 1.2 and JSON all read the same way.
# A leading + is allowed (all read +5 as 5); a leading zero, a base prefix, `_` separators,
# `:` (base 60) and .inf/.nan are not.
_PLAIN_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_PLAIN_FLOAT = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")

# CDK's token markers (aws-cdk-lib core/lib/private/encoding): a string holding one is read by
# CDK as a reference to another value (a string, a list, a number), not as text.
CDK_TOKEN = re.compile(r"\$\{Token\[|#\{Token\[|-1\.[0-9]{10,16}e\+289")


def _number(value: Any) -> str:
    try:
        return clip(str(value))
    except ValueError:  # an int of more than 4300 digits has no str() (sys.int_info)
        return "a number of thousands of digits"


def number_form(text: str, tag: str, value: Any) -> tuple[str, str] | None:
    """What is wrong with a number YAML read from ``text`` (``tag`` int or float, ``value``
    what YAML made of it), as (problem, what to write instead); None for a plain decimal."""
    if (_PLAIN_INT if tag == _INT else _PLAIN_FLOAT).fullmatch(text):
        return None
    text, value = clip(text), _number(value)
    sign = "-" if text.startswith("-") else ""
    body = text.lstrip("+-").lower()
    if body in (".inf", ".nan"):
        what = "not a number (NaN)" if body == ".nan" else f"{sign or '+'}infinity"
        return f"YAML reads {text} as {what}", "write a finite number"
    if ":" in body:
        return (
            f"YAML 1.1 reads {text} as a base-60 number, {value} (other YAML readers as text)",
            f"write {value} (YAML 1.1 reads a:b as a×60+b)",
        )
    if body.startswith(("0x", "0b")):
        base = "hexadecimal" if body.startswith("0x") else "binary"
        return f"YAML reads {text} as the {base} number {value}", f"write {value} (plain decimal)"
    if tag == _INT and len(body) > 1 and body.startswith("0"):
        meant = clip(sign + (body.replace("_", "").lstrip("0") or "0"))
        return (
            f"YAML reads {text} as the octal number {value}",
            f"write {meant} (YAML reads a leading 0 as octal)",
        )
    if "_" in body:
        return (
            f"YAML 1.1 reads {text} as {value}, other YAML readers as text",
            f"write {value} (no _ separators)",
        )
    return None


class _Builder:
    def __init__(self, source: SourceMap):
        self.source = source
        self.scalars = yaml.constructor.SafeConstructor()
        self.active: set[int] = set()  # node ids on the current path, to refuse alias cycles
        self.built = 0
        self.problems: list[Diagnostic] = []  # refused scalars; the document is still read

    def _mark(self, node: yaml.Node) -> Mark:
        return Mark(node.start_mark.line + 1, node.start_mark.column + 1)

    def _fail(self, node: yaml.Node, path: FieldPath, message: str, fix: str) -> YamlError:
        mark = self._mark(node)
        return YamlError(
            Diagnostic(
                file=self.source.file,
                line=mark.line,
                column=mark.column,
                path=dotted(path),
                message=message,
                fix=fix,
            )
        )

    def build(self, node: yaml.Node, path: FieldPath) -> Any:
        self.source.values.setdefault(path, self._mark(node))
        if id(node) in self.active:
            raise self._fail(node, path, "an alias refers to itself", "remove the recursive alias")
        self.built += 1
        if self.built > MAX_NODES:
            raise self._fail(
                node,
                path,
                f"the document expands to more than {MAX_NODES} values (nested aliases?)",
                "write the values out; do not nest aliases of aliases",
            )
        if node.tag not in _PLAIN_TAGS:
            raise self._fail(
                node,
                path,
                f"YAML tag {clip(node.tag)} is not supported",
                "remove the tag: specs use plain values, lists and mappings",
            )
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return tuple(self.build(item, (*path, i)) for i, item in enumerate(node.value))
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
        finally:
            self.active.discard(id(node))
        raise self._fail(node, path, "unsupported YAML node", "use plain mappings and lists")

    def _scalar(self, node: yaml.ScalarNode, path: FieldPath) -> Any:
        text = node.value
        self.source.raw[path] = (text, node.style in ("'", '"'))
        try:
            value = self.scalars.construct_object(node, deep=True)
        except (yaml.constructor.ConstructorError, ValueError, OverflowError) as exc:
            raise self._fail(
                node,
                path,
                f"cannot read value {clip(repr(text))}: {clip(str(exc))}",
                "quote the value",
            ) from None
        if node.tag in (_INT, _FLOAT):
            wrong = number_form(text, node.tag, value)
            if wrong:
                problem, instead = wrong
                self._refuse_reading(node, path, f"not a plain decimal number: {problem}", instead)
                return text  # as text: a type error about it would repeat this one
        elif node.tag == _BOOL and text.lower() not in ("true", "false"):
            # YAML 1.1 reads yes/no/on/off (any case) as booleans, YAML 1.2 and JSON as text:
            # `networkIsolation: off` must not depend on which reader a tool uses.
            meant = "true" if value else "false"
            self._refuse_reading(
                node,
                path,
                f"YAML 1.1 reads {clip(text)} as {meant}, YAML 1.2 and JSON as text",
                f"write {meant}",
            )
            return text
        elif isinstance(value, str) and CDK_TOKEN.search(value):
            marker = CDK_TOKEN.search(value).group(0)  # type: ignore[union-attr]
            token = f"{marker}...]}}" if "Token[" in marker else f"the number {marker}"
            self._refuse(
                node,
                path,
                f"holds CDK token syntax ({token}): CDK would resolve it as a reference to "
                "another value, not keep it as text",
                "remove the token: spec values are plain text, and llmdeploy makes every "
                "reference itself",
                value,
            )
        return value

    def _refuse_reading(
        self, node: yaml.ScalarNode, path: FieldPath, message: str, instead: str
    ) -> None:
        """Refuse a scalar YAML readers disagree about: the fix gives ``instead`` and, as the
        other reading, the text as written in quotes."""
        text = node.value
        key = path[-1] if path and isinstance(path[-1], str) else None
        quoted = f'{clip(key)}: "{clip(text)}"' if key else f'"{clip(text)}"'
        self._refuse(
            node, path, message, f"{instead}; or, if it is text, put it in quotes: {quoted}", text
        )

    def _refuse(self, node: yaml.Node, path: FieldPath, message: str, fix: str, shown: str) -> None:
        mark = self._mark(node)
        self.source.refused.add(path)
        self.problems.append(
            Diagnostic(
                file=self.source.file,
                line=mark.line,
                column=mark.column,
                path=dotted(path),
                message=message,
                value=Written(shown) if node.tag in (_INT, _FLOAT) else shown,
                fix=fix,
            )
        )

    def _mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, Any]:
        merged = getattr(node, "_llmdeploy_merged", None)
        if merged is None:  # an aliased mapping is met more than once: flatten it only once
            own_count = sum(k.tag != "tag:yaml.org,2002:merge" for k, _ in node.value)
            try:
                self.scalars.flatten_mapping(node)  # resolves `<<: *anchor` merge keys in place
            except yaml.constructor.ConstructorError as exc:
                raise self._fail(
                    node, path, f"bad merge key: {exc.problem}", "merge a mapping"
                ) from None
            merged = len(node.value) - own_count
            node._llmdeploy_merged = merged  # type: ignore[attr-defined]
        # After flattening, merged entries come first and the mapping's own entries last: a
        # key given both ways is an override (allowed), a key given twice by hand is a mistake.
        entries = [(self._key(k, path), k, v) for k, v in node.value]
        own_keys = {key for key, _, _ in entries[merged:]}
        out: dict[str, Any] = {}
        seen: set[str] = set()
        for index, (key, key_node, value_node) in enumerate(entries):
            if key in seen or (index < merged and key in own_keys):
                if index < merged:
                    continue  # overridden by the mapping itself, or by an earlier merge
                raise self._fail(
                    key_node,
                    (*path, key),
                    f"duplicate key '{clip(key)}' (YAML would silently keep only the last one)",
                    "remove one of the two entries",
                )
            seen.add(key)
            self.source.keys[(*path, key)] = self._mark(key_node)
            out[key] = self.build(value_node, (*path, key))
        return out

    def _key(self, key_node: yaml.Node, path: FieldPath) -> str:
        if not isinstance(key_node, yaml.ScalarNode):
            raise self._fail(key_node, path, "a key must be a plain name", "use a string key")
        # `1: x` or `on: x` load as int/bool keys in YAML 1.1: our keys are names, keep the text.
        return str(key_node.value)
