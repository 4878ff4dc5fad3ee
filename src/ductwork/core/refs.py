"""``${...}`` references: how a step's parameters point at the pipeline's arguments and other steps.

Forms (``Ref.kind`` in brackets)::

    ${pipeline.<argument>}                          [pipeline]
    ${<step>.id}                                    [id]
    ${<step>.artifacts.<name>[.<attribute>]}        [artifacts]   "\\." is a literal dot in <name>
    ${<step>.parameters.<Section/key>}              [parameters]  the key may contain dots
    ${<step>.models.<input|output>.<index>.<attr>}  [models]      index may be negative
    ${<step>.script|execution|container|output.<path>}   [script, execution, container, output]
    ${<step>.comment|tags|system_tags|project|name|status}  [comment, tags, ...]
    ${<step>.<return_name>}                         [return]      a function step's return value

This module only parses, finds, validates and substitutes; resolving a ``Ref`` to a value is the
caller's job (it knows the tasks).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ductwork.core.dag import check_name
from ductwork.core.errors import ValidationError
from ductwork.core.patterns import Pattern

__all__ = [
    "ARTIFACT_ATTRIBUTES",
    "FIELDS",
    "MODEL_ATTRIBUTES",
    "PATH_FIELDS",
    "PATTERN",
    "SCALAR_FIELDS",
    "TASK_FIELDS",
    "Ref",
    "find",
    "parse",
    "steps",
    "substitute",
    "validate_refs",
]

PATTERN = Pattern(r"\$\{[^}]*\}")

ARTIFACT_ATTRIBUTES = frozenset(
    {"url", "hash", "size", "type", "preview", "name", "mode", "timestamp", "metadata"}
)
MODEL_ATTRIBUTES = frozenset(
    {
        "id",
        "name",
        "url",
        "uri",
        "hash",
        "size",
        "project",
        "tags",
        "comment",
        "config_text",
        "labels",
        "framework",
        "task",
        "published",
        "created",
    }
)
# Task sections that are dicts: the reference walks into them with a dotted path.
PATH_FIELDS = frozenset({"script", "execution", "container", "output"})
# Task fields that are one value: the reference names them whole.
SCALAR_FIELDS = frozenset({"comment", "tags", "system_tags", "project", "name", "status"})
TASK_FIELDS = PATH_FIELDS | SCALAR_FIELDS
# Every field a reference can name after the step; a return value with one of these names cannot
# be referenced as ``${<step>.<return_name>}``.
FIELDS = TASK_FIELDS | {"id", "artifacts", "parameters", "models"}

_FIELD_HELP = "id, artifacts, parameters, models, " + ", ".join(sorted(TASK_FIELDS))
# A dot not preceded by a backslash separates an artifact name from its attribute.
_UNESCAPED_DOT = Pattern(r"(?<!\\)\.")
_MAX_LISTED = 8


@dataclass(frozen=True)
class Ref:
    """One parsed reference.

    ``text`` is the reference as written (``${a.artifacts.b}``), ``step`` the step it names
    (``pipeline`` for pipeline arguments), ``kind`` its form (see the module doc) and ``path`` the
    rest, split into parts: ``("data",)`` for an artifact, ``("data", "url")`` for its url,
    ``("Args/lr",)`` for a parameter, ``("output", "-1", "url")`` for a model, ``("branch",)`` for
    ``${a.script.branch}``, ``("accuracy",)`` for a return value, ``("lr",)`` for ``${pipeline.lr}``.
    """

    text: str
    step: str
    kind: str
    path: tuple[str, ...] = ()

    @property
    def is_task_field(self) -> bool:
        """True for the task-field kinds (script, execution, container, output, comment, tags...)."""
        return self.kind in TASK_FIELDS


def parse(text: str) -> Ref:
    """Parse one whole reference ``${...}``; raise ValidationError quoting it and saying what is wrong."""
    if not isinstance(text, str):
        raise ValidationError(f"a reference must be a string, got {type(text).__name__} {text!r}")
    if not PATTERN.fullmatch(text):
        raise ValidationError(f"{text!r} is not a reference: expected '${{<step>.<field>}}'")
    inner = text[2:-1]
    if not inner.strip():
        raise ValidationError(f"reference {text!r} is empty: expected '${{<step>.<field>}}'")
    step, dot, rest = inner.partition(".")
    if not dot or not rest:
        raise ValidationError(
            f"reference {text!r} names no field: expected '${{{step}.<field>}}' with a field such as "
            f"id, artifacts.<name> or a return name"
        )
    if step == "pipeline":
        return Ref(text, "pipeline", "pipeline", (_check_argument(text, rest),))
    try:
        check_name(step)
    except ValidationError as exc:
        raise ValidationError(f"reference {text!r}: {exc}") from None
    field, dot, tail = rest.partition(".")
    if dot and not tail:
        raise ValidationError(f"reference {text!r} ends with a dot")
    if field == "id":
        _no_tail(text, field, tail)
        return Ref(text, step, "id")
    if field == "artifacts":
        return Ref(text, step, "artifacts", _artifact_path(text, tail))
    if field == "parameters":
        return Ref(text, step, "parameters", (_parameter_key(text, tail),))
    if field == "models":
        return Ref(text, step, "models", _model_path(text, tail))
    if field in PATH_FIELDS:
        if not tail:
            raise ValidationError(
                f"reference {text!r} needs a path inside {field}, e.g. '${{{step}.{field}.<key>}}'"
            )
        return Ref(text, step, field, tuple(_parts(text, tail)))
    if field in SCALAR_FIELDS:
        _no_tail(text, field, tail)
        return Ref(text, step, field)
    if not field.isidentifier():
        raise ValidationError(
            f"reference {text!r}: {field!r} is neither a known field ({_FIELD_HELP}) nor a return name"
        )
    if tail:
        raise ValidationError(
            f"reference {text!r}: return value {field!r} cannot be followed by '.{tail}' "
            f"(known fields: {_FIELD_HELP})"
        )
    return Ref(text, step, "return", (field,))


def find(value: Any, recursive: bool = False) -> list[Ref]:
    """The references in ``value``, in order: a string's, or with ``recursive`` those inside
    lists, tuples and dict values too. Other values hold none. Raises ValidationError on a
    malformed or unclosed reference."""
    found: list[Ref] = []
    _collect(value, recursive, found)
    return found


def steps(value: Any, recursive: bool = False) -> set[str]:
    """Names of the steps ``value`` references (pipeline arguments are not steps)."""
    return {ref.step for ref in find(value, recursive) if ref.kind != "pipeline"}


def substitute(value: Any, resolve: Callable[[Ref], Any], recursive: bool = False) -> Any:
    """Replace the references in ``value`` by what ``resolve`` returns for them.

    A string that is exactly one reference becomes the resolved value itself, with its type. In a
    string with several references or other text, each is replaced by ``str(resolved)`` and the
    rest of the text is kept. With ``recursive``, lists, tuples and dicts are rebuilt with the same
    types around substituted values. Anything else is returned as it is.
    """
    if isinstance(value, str):
        return _substitute_text(value, resolve)
    if recursive:
        if isinstance(value, dict):
            rebuilt = {key: substitute(item, resolve, True) for key, item in value.items()}
            return rebuilt if type(value) is dict else _same_type(value, rebuilt)
        if isinstance(value, (list, tuple)):
            items = [substitute(item, resolve, True) for item in value]
            return items if type(value) is list else _same_type(value, items)
    return value


def validate_refs(
    value: Any,
    *,
    where: str,
    steps: Mapping[str, Sequence[str] | None],
    pipeline_args: Collection[str],
    recursive: bool = False,
) -> set[str]:
    """Check every reference in ``value`` and return the names of the steps it references.

    ``steps`` maps each step name to its declared return names (a function step), or to None (a
    task step, which has no return values). Raises ValidationError prefixed with ``where`` (for
    example ``"step 'train' parameter 'kwargs/x'"``) for a malformed reference, an unknown step, an
    unknown pipeline argument or a return name the step does not declare.
    """
    try:
        refs = find(value, recursive)
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc}") from None
    referenced: set[str] = set()
    for ref in refs:
        if ref.kind == "pipeline":
            if ref.path[0] not in pipeline_args:
                raise ValidationError(
                    f"{where}: reference {ref.text!r} names unknown pipeline argument {ref.path[0]!r}"
                    f" ({_known('known pipeline arguments', ref.path[0], pipeline_args)})"
                )
            continue
        if ref.step not in steps:
            raise ValidationError(
                f"{where}: reference {ref.text!r} names unknown step {ref.step!r}"
                f" ({_known('known steps', ref.step, steps)})"
            )
        declared_returns = steps[ref.step] or ()
        if ref.kind in FIELDS and not ref.path and ref.kind in declared_returns:
            raise ValidationError(
                f"{where}: reference {ref.text!r} is ambiguous: step {ref.step!r} returns a value named "
                f"{ref.kind!r}, but the reference names the task's {ref.kind}; rename that return value"
            )
        if ref.kind == "return":
            declared = steps[ref.step]
            name = ref.path[0]
            if declared is None:
                raise ValidationError(
                    f"{where}: reference {ref.text!r}: step {ref.step!r} runs a task, which has no "
                    f"return value {name!r}; use one of {_FIELD_HELP}"
                )
            if name not in declared:
                raise ValidationError(
                    f"{where}: reference {ref.text!r}: step {ref.step!r} declares no return value {name!r}"
                    f" ({_known('it returns', name, declared)})"
                )
        referenced.add(ref.step)
    return referenced


# -- parsing helpers ----------------------------------------------------------------------------


def _check_argument(text: str, name: str) -> str:
    if not name.strip() or name != name.strip():
        raise ValidationError(f"reference {text!r}: pipeline argument name {name!r} is empty or padded")
    return name


def _no_tail(text: str, field: str, tail: str) -> None:
    if tail:
        raise ValidationError(f"reference {text!r}: {field!r} takes no path, but '.{tail}' follows it")


def _parts(text: str, tail: str) -> list[str]:
    parts = tail.split(".")
    if any(not part for part in parts):
        raise ValidationError(f"reference {text!r} has an empty part (two dots in a row?)")
    return parts


def _artifact_path(text: str, tail: str) -> tuple[str, ...]:
    if not tail:
        raise ValidationError(f"reference {text!r} needs an artifact name: '${{<step>.artifacts.<name>}}'")
    pieces = _UNESCAPED_DOT.split(tail)
    if any(not piece for piece in pieces):
        raise ValidationError(f"reference {text!r} has an empty part (two dots in a row?)")
    name = pieces[0].replace("\\.", ".")
    attributes = pieces[1:]
    if not attributes:
        return (name,)
    attribute = attributes[0]
    if attribute not in ARTIFACT_ATTRIBUTES:
        raise ValidationError(
            f"reference {text!r}: artifact attribute {attribute!r} is unknown; use one of "
            f"{', '.join(sorted(ARTIFACT_ATTRIBUTES))} (write '\\.' for a dot inside an artifact name)"
        )
    if len(attributes) > 1 and attribute != "metadata":
        raise ValidationError(
            f"reference {text!r}: artifact attribute {attribute!r} cannot be followed by "
            f"'.{'.'.join(attributes[1:])}' (only metadata has keys)"
        )
    return (name, *(piece.replace("\\.", ".") for piece in attributes))


def _parameter_key(text: str, tail: str) -> str:
    section, slash, key = tail.partition("/")
    if not slash or not section or not key:
        raise ValidationError(
            f"reference {text!r}: a parameter is named '<Section>/<key>', e.g. "
            f"'${{<step>.parameters.Args/{tail or 'x'}}}'"
        )
    return tail


def _model_path(text: str, tail: str) -> tuple[str, ...]:
    usage = "'${<step>.models.<input|output>.<index>.<attribute>}'"
    parts = tail.split(".") if tail else []
    if len(parts) != 3:
        raise ValidationError(f"reference {text!r}: a model reference has the form {usage}")
    role, index, attribute = parts
    if role not in ("input", "output"):
        raise ValidationError(f"reference {text!r}: model role {role!r} must be 'input' or 'output'")
    try:
        int(index)
    except ValueError:
        raise ValidationError(
            f"reference {text!r}: model index {index!r} must be an integer (-1 is the last)"
        ) from None
    if attribute not in MODEL_ATTRIBUTES:
        raise ValidationError(
            f"reference {text!r}: model attribute {attribute!r} is unknown; use one of "
            f"{', '.join(sorted(MODEL_ATTRIBUTES))}"
        )
    return (role, index, attribute)


# -- finding and substituting -------------------------------------------------------------------


def _collect(value: Any, recursive: bool, found: list[Ref]) -> None:
    if isinstance(value, str):
        if "${" not in value:  # the common case: no reference, no regex
            return
        end = 0
        for match in PATTERN.finditer(value):
            _check_unclosed(value, value[end : match.start()])
            found.append(parse(match.group()))
            end = match.end()
        _check_unclosed(value, value[end:])
    elif recursive:
        if isinstance(value, dict):
            for item in value.values():
                _collect(item, True, found)
        elif isinstance(value, (list, tuple)):
            for item in value:
                _collect(item, True, found)


def _check_unclosed(whole: str, between: str) -> None:
    if "${" in between:
        raise ValidationError(f"{whole!r} has an unclosed reference: '${{' without a matching '}}'")


def _substitute_text(text: str, resolve: Callable[[Ref], Any]) -> Any:
    if "${" not in text:
        return text
    if PATTERN.fullmatch(text):
        return resolve(parse(text))
    _collect(text, False, [])  # validates, including unclosed references
    return PATTERN.sub(lambda match: str(resolve(parse(match.group()))), text)


def _same_type(original: Any, items: Any) -> Any:
    """Rebuild a container subclass (a namedtuple, an OrderedDict, a defaultdict...) around
    substituted items, keeping what the original carries besides its items."""
    kind = type(original)
    if isinstance(original, tuple):
        if hasattr(kind, "_make"):
            return kind._make(items)
        try:
            return kind(items)
        except TypeError:
            return tuple(items)
    import copy

    try:
        rebuilt = copy.copy(original)
        rebuilt.clear()
        if isinstance(original, dict):
            rebuilt.update(items)
        else:
            rebuilt.extend(items)
        return rebuilt
    except Exception:  # a subclass that cannot be copied or refilled: fall back to the base type
        return dict(items) if isinstance(original, dict) else list(items)


def _known(label: str, name: str, known: Collection[str]) -> str:
    import difflib  # only on the error path

    names = sorted(known)
    if not names:
        return f"{label}: none"
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    listed = ", ".join(repr(n) for n in names[:_MAX_LISTED])
    more = f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else ""
    return f"{hint}{label}: {listed}{more}"
