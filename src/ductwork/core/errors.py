"""The exceptions users see. Each message names the thing that was wrong."""

from __future__ import annotations


class DuctworkError(Exception):
    """Base of every error ductwork raises on purpose."""


class NotFound(DuctworkError, LookupError):
    """A task, project, queue, artifact or model that does not exist."""


class StatusError(DuctworkError, ValueError):
    """An illegal status transition."""


class ValidationError(DuctworkError, ValueError):
    """Bad input: a wrong type, a malformed reference, an invalid DAG."""


class StorageError(DuctworkError, OSError):
    """The store or the artifact storage could not be read or written."""


class Conflict(DuctworkError):
    """A concurrent change won: the entry was claimed or changed by someone else."""


class Forbidden(DuctworkError, PermissionError):
    """The caller is known but may not do this; the message says who may."""
