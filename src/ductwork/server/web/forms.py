"""The NEW RUN form: a run's `Args` as typed inputs, checked on the server before anything starts.

Values come back from the browser as text; each argument is turned back into the type its
parameter records (an int stays an int, a list a list), so the new run's steps see the same types
the pipeline's author declared. Every bad field gets its own message instead of one failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ductwork.core import arguments, launch, runformat
from ductwork.server.services.views import Reader, display_value

DEFAULT_QUEUE = runformat.CONTROLLER_QUEUE


@dataclass
class ArgField:
    name: str
    type: str  # the parameter's recorded type: int, float, bool, str, list, dict, NoneType or a hint
    value: str  # as shown in the input
    description: str


@dataclass
class NewRunForm:
    run_id: str
    run_name: str
    fields: list[ArgField]
    queues: list[str]
    queue: str
    refusal: str = ""  # why this run cannot be run again ("" when it can)


def new_run_form(store: Reader, run_id: str) -> NewRunForm:
    """The form for a new run of `run_id`'s pipeline, pre-filled with that run's arguments."""
    run = store.get_task(run_id)
    fields = [
        ArgField(
            name=name,
            type=param.type or type(param.value).__name__,
            value=display_value(param.value) if param.value is not None else "",
            description=param.description,
        )
        for name, param in sorted(runformat.args_of(store.get_parameters(run_id)).items())
        if not name.startswith("_")
    ]
    queue = run.queue or DEFAULT_QUEUE
    queues = sorted({q.name for q in store.list_queues()} | {queue})
    refusal = launch.rerun_refusal(run.script)
    return NewRunForm(
        run_id=run_id, run_name=run.name, fields=fields, queues=queues, queue=queue, refusal=refusal
    )


def parse_new_run(
    form: NewRunForm, submitted: Mapping[str, str]
) -> tuple[dict[str, object], str, dict[str, str]]:
    """(arguments by name with their types restored, queue, errors by field name)."""
    args: dict[str, object] = {}
    errors: dict[str, str] = {}
    for arg in form.fields:
        text = submitted.get(f"arg:{arg.name}", arg.value)
        try:
            args[arg.name] = parse_value(text, arg.type)
        except ValueError as exc:
            errors[arg.name] = str(exc)
    queue = submitted.get("queue", form.queue).strip()
    if not queue:
        errors["queue"] = "choose a queue for the pipeline's controller"
    return args, queue, errors


def parse_value(text: str, type_name: str) -> object:
    """`text` as a value of `type_name` (`core.arguments.parse`); raises ValueError with a
    message for the input's label, which already names the argument."""
    try:
        return arguments.parse(text, type_name, name="the value")
    except arguments.ArgumentError as exc:
        raise ValueError(exc.reason) from None
