"""The worker that claims queued tasks and runs them."""
