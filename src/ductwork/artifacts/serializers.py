"""How each kind of object becomes bytes and comes back, plus a one-glance preview of it.

One small Protocol, one class per kind, one resolver (`serializer_for`) that picks by the
object's type and one (`reader_for`) that picks by the stored artifact's type and extension.
numpy, pandas, PIL and cloudpickle are imported only when an object of theirs shows up: the
resolver looks at `type(obj).__module__` before importing anything.
"""

from __future__ import annotations

import os
import pickle
import reprlib
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from ductwork.artifacts import archives, typed_json
from ductwork.core.errors import ValidationError

PREVIEW_LIMIT = 1000  # characters


class Serializer(Protocol):
    kind: str  # the artifact `type`
    extension: str
    content_type: str

    def write(self, obj: Any, sink: BinaryIO) -> None: ...
    def read(self, path: str) -> Any: ...
    def preview(self, obj: Any) -> str: ...
    def fallback(self) -> Serializer | None:
        """What to try when `write` refuses the object (pandas and PIL refuse some: mixed-type
        columns, a CMYK PNG), or None when the error is final."""
        ...


class _Final:
    """Mixin: a serializer whose errors are final."""

    def fallback(self) -> Serializer | None:
        return None


class _ToPickle:
    """Mixin: a serializer that hands what it cannot store to pickle."""

    def fallback(self) -> Serializer | None:
        return PickleSerializer()


def clip(text: str, limit: int = PREVIEW_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class NumpySerializer(_Final):
    kind = "numpy"
    extension = ".npy"
    content_type = "application/x-npy"
    mmap_min_bytes = 64 << 20  # larger local arrays load memory-mapped (copy-on-write)

    def write(self, obj: Any, sink: BinaryIO) -> None:
        import numpy as np

        # Header then the raw buffer, written straight through the hashing sink (no BytesIO copy).
        fortran = bool(obj.flags.f_contiguous and not obj.flags.c_contiguous)
        body: Any = obj.T if fortran else np.ascontiguousarray(obj)
        header = np.lib.format.header_data_from_array_1_0(obj)
        _write_npy_header(sink, header)
        if body.size:
            # The array does not change while it is saved: its hashing may overlap the fsync.
            write = getattr(sink, "write_stable", sink.write)
            write(body.reshape(-1).view(np.uint8))

    def read(self, path: str) -> Any:
        import numpy as np

        big = os.path.getsize(path) >= self.mmap_min_bytes
        return np.load(path, mmap_mode="c" if big else None, allow_pickle=False)

    def preview(self, obj: Any) -> str:
        text = f"ndarray shape={tuple(obj.shape)} dtype={obj.dtype}"
        if obj.size and obj.dtype.kind in "biuf":
            text += f" min={obj.min()} max={obj.max()}"
        return clip(text)


def _write_npy_header(sink: BinaryIO, header: dict[str, Any]) -> None:
    import io

    import numpy as np

    buffer = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buffer, header)
    except ValueError:  # a header over 64 KiB (huge structured dtypes) needs format 2.0
        buffer = io.BytesIO()
        np.lib.format.write_array_header_2_0(buffer, header)
    sink.write(buffer.getvalue())


class PandasSerializer(_ToPickle):
    kind = "pandas"
    extension = ".parquet"
    content_type = "application/vnd.apache.parquet"

    def write(self, obj: Any, sink: BinaryIO) -> None:
        obj.to_parquet(sink, engine="pyarrow")

    def read(self, path: str) -> Any:
        import pandas as pd

        return pd.read_parquet(path, engine="pyarrow")

    def preview(self, obj: Any) -> str:
        rows, columns = obj.shape
        head = obj.head(5).to_string(max_cols=12, max_colwidth=30)
        return clip(f"DataFrame {rows} rows x {columns} columns\n{head}")


class CsvSerializer(PandasSerializer):
    """DataFrames as CSV (`extension_name=".csv"` or `".csv.gz"`), as ClearML users may ask."""

    content_type = "text/csv"

    def fallback(self) -> Serializer | None:
        return None  # the user asked for CSV: say so if it fails rather than store a pickle

    def __init__(self, extension: str) -> None:
        self.extension = extension

    def write(self, obj: Any, sink: BinaryIO) -> None:
        compression = "gzip" if self.extension.endswith(".gz") else None
        obj.to_csv(sink, compression=compression)

    def read(self, path: str) -> Any:
        import pandas as pd

        return pd.read_csv(path, index_col=0)


class JsonSerializer(_Final):
    """Large JSON values; small ones never reach a file (they are inlined in the record)."""

    kind = "json"
    extension = ".json"
    content_type = "application/json"

    def write(self, obj: Any, sink: BinaryIO) -> None:
        sink.write(typed_json.dumps(obj).encode("utf-8"))

    def read(self, path: str) -> Any:
        with open(path, "rb") as handle:
            return typed_json.loads(handle.read())

    def preview(self, obj: Any) -> str:
        return clip(typed_json.dumps(obj))


class BytesSerializer(_Final):
    """bytes and bytearray as they are: written straight from the object (no encoded copy),
    read back as bytes (or bytearray)."""

    kind = "bytes"
    extension = ".bin"
    content_type = "application/octet-stream"

    def __init__(self, as_bytearray: bool = False) -> None:
        self.as_bytearray = as_bytearray
        self.kind = "bytearray" if as_bytearray else "bytes"

    def write(self, obj: Any, sink: BinaryIO) -> None:
        sink.write(memoryview(obj))

    def read(self, path: str) -> Any:
        with open(path, "rb") as handle:
            if not self.as_bytearray:
                return handle.read()
            data = bytearray(os.fstat(handle.fileno()).st_size)
            handle.readinto(data)
            return data

    def preview(self, obj: Any) -> str:
        return f"{type(obj).__name__} of {len(obj)} bytes: {clip(repr(bytes(obj[:64])))}"


class TextSerializer(_Final):
    kind = "str"
    extension = ".txt"
    content_type = "text/plain; charset=utf-8"

    def write(self, obj: Any, sink: BinaryIO) -> None:
        # surrogatepass: any Python str round-trips, even lone surrogates from odd file names
        sink.write(obj.encode("utf-8", "surrogatepass"))

    def read(self, path: str) -> Any:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "surrogatepass")

    def preview(self, obj: Any) -> str:
        return clip(obj)


class ImageSerializer(_ToPickle):
    kind = "image"
    content_type = "image/png"
    formats = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}

    def __init__(self, extension: str = ".png") -> None:
        self.extension = extension
        self.content_type = "image/jpeg" if extension in (".jpg", ".jpeg") else f"image/{extension[1:]}"

    def write(self, obj: Any, sink: BinaryIO) -> None:
        obj.save(sink, format=self.formats[self.extension])

    def read(self, path: str) -> Any:
        from PIL import Image

        with Image.open(path) as image:
            image.load()  # read it all now, so no file handle outlives this call
        return image

    def preview(self, obj: Any) -> str:
        width, height = obj.size
        return f"image {width}x{height} {obj.mode}"


class PickleSerializer:
    """Plain pickle first (fast, stores functions and classes by name); when that fails, or
    for objects plain pickle cannot find again by name (lambdas, closures, anything from
    `__main__`), cloudpickle, which stores them by value."""

    kind = "pickle"
    extension = ".pkl"
    content_type = "application/x-python-pickle"

    def __init__(self, by_value: bool = False) -> None:
        self.by_value = by_value

    def write(self, obj: Any, sink: BinaryIO) -> None:
        if self.by_value or _defined_by_value(obj):
            import cloudpickle

            cloudpickle.dump(obj, sink, protocol=pickle.HIGHEST_PROTOCOL)
        else:
            pickle.dump(obj, sink, protocol=pickle.HIGHEST_PROTOCOL)

    def fallback(self) -> Serializer | None:
        return None if self.by_value else PickleSerializer(by_value=True)

    def read(self, path: str) -> Any:
        # cloudpickle's output is plain pickle that imports cloudpickle helpers on load.
        with open(path, "rb") as handle:
            return pickle.load(handle)

    def preview(self, obj: Any) -> str:
        kind = type(obj)
        try:
            text = _short_repr.repr(obj)
        except Exception:  # a broken __repr__ must not fail the upload
            text = "<no repr>"
        return clip(f"{kind.__module__}.{kind.__qualname__}: {text}")


_short_repr = reprlib.Repr()
_short_repr.maxstring = 200
_short_repr.maxother = 200


def _defined_by_value(obj: Any) -> bool:
    """Functions and classes of `__main__`, lambdas and closures: plain pickle would store a
    name the loading process cannot resolve (a step runs in another process)."""
    if isinstance(obj, types.FunctionType):
        return obj.__module__ == "__main__" or "<locals>" in obj.__qualname__ or obj.__name__ == "<lambda>"
    if isinstance(obj, type):
        return obj.__module__ == "__main__" or "<locals>" in obj.__qualname__
    return type(obj).__module__ == "__main__"


class FileSerializer(_Final):
    """A path to a file: the file's bytes as they are (`obj` is the path)."""

    kind = "file"
    content_type = "application/octet-stream"

    def __init__(self, path: str) -> None:
        self.extension = file_extension(path)
        import mimetypes

        self.content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"

    def write(self, obj: Any, sink: BinaryIO) -> None:
        with open(obj, "rb") as source:
            while chunk := source.read(CHUNK_READ):
                sink.write(chunk)

    def read(self, path: str) -> Any:
        return Path(path)

    def preview(self, obj: Any) -> str:
        return f"file {os.path.basename(obj)} {os.path.getsize(obj)} bytes"


CHUNK_READ = 8 << 20


class FolderSerializer(_Final):
    """A path to a folder: a deterministic zip of it (same files, same bytes, same hash)."""

    kind = "folder"
    extension = ".zip"
    content_type = "application/zip"

    def write(self, obj: Any, sink: BinaryIO) -> None:
        archives.zip_folder(obj, sink)

    def read(self, path: str) -> Any:
        return Path(path)

    def preview(self, obj: Any) -> str:
        count, total = archives.folder_summary(obj)
        return f"folder {os.path.basename(os.path.normpath(obj))}: {count} files, {total} bytes"


class CustomSerializer(_Final):
    """Bytes made by the user's `serialization_function(obj) -> bytes`."""

    kind = "custom"
    content_type = "application/octet-stream"

    def __init__(self, function: Callable[[Any], bytes | bytearray], extension: str | None) -> None:
        self.function = function
        self.extension = extension or ".bin"
        self._size = 0

    def write(self, obj: Any, sink: BinaryIO) -> None:
        data = self.function(obj)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"serialization_function returned {type(data).__name__}, not bytes")
        self._size = len(data)
        sink.write(data)

    def read(self, path: str) -> Any:
        with open(path, "rb") as handle:
            return handle.read()

    def preview(self, obj: Any) -> str:
        return f"{type(obj).__name__} as {self._size} bytes (custom serialization)"


def file_extension(path: str) -> str:
    """`.csv`, `.tar.gz`: the last one or two short suffixes of a file name ("" if none)."""
    suffixes = [s for s in Path(path).suffixes[-2:] if 1 < len(s) <= 10 and s[1:].isalnum()]
    if len(suffixes) == 2 and suffixes[1].lower() not in _COMPRESSION_SUFFIXES:
        suffixes = suffixes[-1:]
    return "".join(suffixes)


_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".lz4")


def path_of(obj: Any, *, strings_as_paths: bool = True) -> str | None:
    """The path an object names: any `os.PathLike`, and (when `strings_as_paths`, as in
    ClearML's `upload_artifact`) a str naming an existing file or folder. Else None."""
    if isinstance(obj, os.PathLike):
        path = os.fspath(obj)
        return path if isinstance(path, str) else os.fsdecode(path)
    if not strings_as_paths or not isinstance(obj, str):
        return None
    if len(obj) < 4096 and "\n" not in obj and "\x00" not in obj and obj.strip():
        return obj if os.path.exists(obj) else None
    return None


_PICKLE_EXTENSIONS = (".pkl", ".pickle")


def serializer_for(
    obj: Any, extension_name: str | None = None, *, strings_as_paths: bool = True
) -> Serializer:
    """The serializer for a (non-inline) object; `extension_name` may pick a format."""
    extension = _normal_extension(extension_name)
    if extension in _PICKLE_EXTENSIONS:
        chosen: Serializer = PickleSerializer()
        chosen.extension = extension
        return chosen
    path = path_of(obj, strings_as_paths=strings_as_paths)
    if path is not None:
        if os.path.isdir(path):
            chosen = FolderSerializer()
        elif os.path.isfile(path):
            chosen = FileSerializer(path)
        else:
            raise FileNotFoundError(path)
        return _with_extension(chosen, extension, allowed=())
    module = type(obj).__module__
    if module == "numpy" and _is_plain_ndarray(obj):
        return _with_extension(NumpySerializer(), extension, allowed=())
    if (module == "pandas" or module.startswith("pandas.")) and type(obj).__name__ == "DataFrame":
        if extension in (".csv", ".csv.gz"):
            return CsvSerializer(extension)
        return _with_extension(PandasSerializer(), extension, allowed=())
    if module.startswith("PIL.") and _is_pil_image(obj):
        if extension in ("", *ImageSerializer.formats):
            return ImageSerializer(extension or ".png")
        return _with_extension(ImageSerializer(), extension, allowed=())
    if isinstance(obj, str):
        return _with_extension(TextSerializer(), extension, allowed=())
    if type(obj) in (bytes, bytearray) and extension in ("", ".bin"):
        # Large bytes as JSON would be base64 text: several copies of the object in memory.
        return BytesSerializer(as_bytearray=type(obj) is bytearray)
    if typed_json.is_candidate(obj) and extension in ("", ".json") and _json_encodable(obj):
        return JsonSerializer()
    return _with_extension(PickleSerializer(), extension, allowed=())


def _normal_extension(extension_name: str | None) -> str:
    if not extension_name:
        return ""
    extension = extension_name.strip().lower()
    return extension if extension.startswith(".") else "." + extension


def _with_extension(chosen: Serializer, extension: str, allowed: tuple[str, ...]) -> Serializer:
    if extension and extension != chosen.extension and extension not in allowed:
        raise ValidationError(
            f"extension_name {extension!r} does not fit a {chosen.kind} artifact "
            f"(use {chosen.extension!r} or '.pkl')"
        )
    return chosen


def _is_plain_ndarray(obj: Any) -> bool:
    import numpy as np

    # Subclasses (np.matrix, masked arrays) would come back as plain arrays, and object arrays
    # hold references rather than values: pickle keeps both as they are.
    return type(obj) in (np.ndarray, np.memmap) and not obj.dtype.hasobject


def _is_pil_image(obj: Any) -> bool:
    from PIL import Image

    return isinstance(obj, Image.Image)


def _json_encodable(obj: Any) -> bool:
    try:
        typed_json.dumps(obj)
    except typed_json.NotJsonValue:
        return False
    return True


def reader_for(kind: str, extension: str) -> Serializer:
    """The serializer that reads a stored artifact back, by its type and blob extension."""
    if extension in _PICKLE_EXTENSIONS and kind != "file":
        return PickleSerializer()
    readers: dict[str, Callable[[], Serializer]] = {
        "numpy": NumpySerializer,
        "json": JsonSerializer,
        "str": TextSerializer,
        "bytes": BytesSerializer,
        "bytearray": lambda: BytesSerializer(as_bytearray=True),
        "pickle": PickleSerializer,
        "custom": lambda: CustomSerializer(bytes, extension),
        "folder": FolderSerializer,
        "image": lambda: ImageSerializer(extension or ".png"),
        "file": lambda: FileSerializer("x" + extension),
        "pandas": lambda: CsvSerializer(extension) if extension.startswith(".csv") else PandasSerializer(),
    }
    make = readers.get(kind)
    if make is None:
        raise ValidationError(f"unknown artifact type {kind!r}")
    return make()
