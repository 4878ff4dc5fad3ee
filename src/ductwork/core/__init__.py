"""Pure domain: statuses, records, DAGs, references, cache keys. Stdlib only, no I/O."""
