"""Content-addressed artifact storage over fsspec, serializers and previews."""
