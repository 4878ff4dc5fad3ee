"""Images for `Logger.report_image`: read from a file or encoded as PNG from an array or PIL image."""

from __future__ import annotations

import io
import os
import re

from ductwork.core.errors import ValidationError

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}


def read_image_file(path: str, title: str, series: str) -> tuple[bytes, str]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ValidationError(
            f"report_image({title!r}, {series!r}): cannot read {path!r}: {exc.strerror}"
        ) from exc
    return data, os.path.splitext(path)[1].lower() or ".png"


def encode_png(image: object, title: str, series: str) -> bytes:
    try:
        from PIL import Image
    except ImportError as exc:
        raise ValidationError(
            f"report_image({title!r}, {series!r}): needs Pillow (pip install pillow)"
        ) from exc
    if not isinstance(image, Image.Image):
        import numpy as np

        array = np.asarray(image)
        if array.dtype != np.uint8:
            low, high = float(array.min()), float(array.max())
            scale = 255.0 / (high - low) if high > low else 0.0
            array = ((array - low) * scale).astype(np.uint8)
        try:
            image = Image.fromarray(array)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"report_image({title!r}, {series!r}): cannot make an image of shape {array.shape}: {exc}"
            ) from exc
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def slug(text: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", text).strip("_")[:80] or "_"
