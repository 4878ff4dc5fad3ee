"""The stored names of a scheduler (TaskScheduler, TriggerScheduler): what the schedulers
write on their own task and on the tasks they start, and what the CLI and the web pages read.
One place, so the writer (`ductwork.automation`) and the readers (the server, which may not
import it) cannot drift apart."""

from __future__ import annotations

SCHEDULER_TAG = "scheduler"  # system tag of a scheduler's own task: how readers find them
KIND_KEY = "scheduler"  # runtime key on its task: SCHEDULE or TRIGGER
SCHEDULE, TRIGGER = "schedule", "trigger"

STATE_CONFIG = "state"  # configuration object: JSON keyed by entry name
SCHEDULE_CONFIG = "schedule"  # configuration object: a TaskScheduler's definitions (a JSON list)
TRIGGERS_CONFIG = "triggers"  # configuration object: a TriggerScheduler's definitions

# runtime keys on a task a scheduler started: the scheduler task's id, then which entry and when
SCHEDULED_BY, TRIGGERED_BY = "scheduled_by", "triggered_by"


def definitions_config(kind: str) -> str:
    """The configuration object holding the definitions of a scheduler of `kind`."""
    return TRIGGERS_CONFIG if kind == TRIGGER else SCHEDULE_CONFIG
