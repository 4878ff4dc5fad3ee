"""The REST API under `/api/`: one router per resource, each a thin layer over services."""
