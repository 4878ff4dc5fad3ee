"""What the API and the web UI do, over the store: one module per noun."""
