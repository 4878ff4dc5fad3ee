"""The user-facing SDK: Task, Logger, models, pipelines, executors."""
