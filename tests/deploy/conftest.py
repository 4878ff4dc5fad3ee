"""The session's S3-compatible server (tests/s3server.py): the deploy test's object storage."""

from s3server import s3_server  # noqa: F401
