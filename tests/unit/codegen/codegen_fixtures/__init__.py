"""User-code fixtures for the code capture tests: they stand for a user's own modules."""
