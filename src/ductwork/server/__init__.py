"""`ductwork server`: REST API, live events and the web UI over the store."""
