"""Every kind of object comes back as the type it was saved as, with a useful preview."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ductwork.artifacts import INLINE_LIMIT, ArtifactStore


def save_load(store: ArtifactStore, obj: Any, **options: Any) -> tuple[Any, Any]:
    record = store.save("task1", "thing", obj, **options)
    return record, store.load(record)


@pytest.mark.parametrize(
    ("value", "kind"),
    [(3, "json"), (2.5, "json"), (True, "json"), (None, "json"), ((1, "a"), "json"), ("hi", "str")],
)
def test_small_values_are_inline_and_keep_their_type(store: ArtifactStore, value: Any, kind: str) -> None:
    record, back = save_load(store, value)
    assert record.inline is not None and record.uri == ""
    assert record.type == kind
    assert back == value and type(back) is type(value)
    assert len(record.hash) == 64 and record.size == len(record.inline.encode())
    assert not (Path(store.root) / "blobs").exists()  # no file at all


def test_large_dict_goes_to_a_json_file_and_keeps_tuples(store: ArtifactStore) -> None:
    value = {"rows": [(i, str(i)) for i in range(3000)]}
    record, back = save_load(store, value)
    assert record.inline is None and record.type == "json"
    assert record.uri.endswith(".json") and record.size > INLINE_LIMIT
    assert back == value and type(back["rows"][0]) is tuple
    assert record.preview.startswith('{"rows":[{"$tuple":[0,"0"]}')
    assert len(record.preview) <= 1000


def test_list_round_trip(store: ArtifactStore) -> None:
    value = list(range(10_000))
    record, back = save_load(store, value)
    assert record.type == "json" and back == value and type(back) is list


def test_long_text(store: ArtifactStore) -> None:
    value = "line ü\n" * 5000
    record, back = save_load(store, value)
    assert record.type == "str" and record.uri.endswith(".txt")
    assert back == value
    assert record.content_type.startswith("text/plain")
    assert record.preview.startswith("line ü") and len(record.preview) <= 1000


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int32).reshape(3, 4),
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.arange(20)[::3],  # not contiguous
        np.array(3.5),  # 0-d
        np.zeros((0, 4)),
        np.array(["2020-01-01", "2021-06-30"], dtype="datetime64[D]"),
        np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
        np.array([True, False]),
    ],
)
def test_numpy_round_trip(store: ArtifactStore, array: np.ndarray[Any, Any]) -> None:
    record, back = save_load(store, array)
    assert record.type == "numpy" and record.uri.endswith(".npy")
    assert isinstance(back, np.ndarray)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    # the stored bytes are a genuine .npy file
    np.testing.assert_array_equal(np.load(record.uri), array)


def test_numpy_preview(store: ArtifactStore) -> None:
    record = store.save("t", "a", np.array([[1.5, -2.0], [3.0, 0.0]]))
    assert record.preview == "ndarray shape=(2, 2) dtype=float64 min=-2.0 max=3.0"


def test_numpy_object_arrays_are_pickled(store: ArtifactStore) -> None:
    array = np.array([{"a": 1}, None], dtype=object)
    record, back = save_load(store, array)
    assert record.type == "pickle" and back[0] == {"a": 1}


def test_large_numpy_loads_memory_mapped_and_writable(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ductwork.artifacts import serializers

    monkeypatch.setattr(serializers.NumpySerializer, "mmap_min_bytes", 1024)
    array = np.arange(10_000, dtype=np.float64)
    record, back = save_load(store, array)
    assert isinstance(back, np.memmap)
    back[0] = 42.0  # copy-on-write: allowed, and the blob stays as it was
    assert np.load(record.uri)[0] == 0.0
    store.verify(record)


def test_pandas_round_trip_via_parquet(store: ArtifactStore) -> None:
    frame = pd.DataFrame(
        {
            "n": [1, 2, 3],
            "x": [0.5, None, 2.0],
            "s": ["a", "b", None],
            "when": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]).tz_localize("UTC"),
            "cat": pd.Categorical(["u", "v", "u"]),
        },
        index=pd.Index([10, 20, 30], name="id"),
    )
    record, back = save_load(store, frame)
    assert record.type == "pandas" and record.uri.endswith(".parquet")
    pd.testing.assert_frame_equal(back, frame)
    assert record.preview.startswith("DataFrame 3 rows x 5 columns\n")
    assert "cat" in record.preview


def test_pandas_that_parquet_refuses_falls_back_to_pickle(store: ArtifactStore) -> None:
    frame = pd.DataFrame({"mixed": [1, "x", 2.5]})
    record, back = save_load(store, frame)
    assert record.type == "pickle"
    pd.testing.assert_frame_equal(back, frame)
    blobs = [p for p in (Path(store.root) / "blobs").rglob("*") if p.is_file()]
    assert [p.suffix for p in blobs] == [".pkl"]  # the refused parquet attempt left nothing


def test_pandas_as_csv_on_request(store: ArtifactStore) -> None:
    frame = pd.DataFrame({"a": [1, 2]})
    record, back = save_load(store, frame, extension_name=".csv.gz")
    assert record.type == "pandas" and record.uri.endswith(".csv.gz")
    pd.testing.assert_frame_equal(back, frame)


def test_image_round_trip(store: ArtifactStore) -> None:
    image = Image.new("RGBA", (7, 5), (10, 20, 30, 255))
    record, back = save_load(store, image)
    assert record.type == "image" and record.content_type == "image/png"
    assert isinstance(back, Image.Image)
    assert back.size == (7, 5) and back.mode == "RGBA"
    assert back.getpixel((3, 3)) == (10, 20, 30, 255)
    assert record.preview == "image 7x5 RGBA"


def test_image_as_jpeg_on_request(store: ArtifactStore) -> None:
    record, back = save_load(store, Image.new("RGB", (4, 4)), extension_name="jpg")
    assert record.uri.endswith(".jpg") and record.content_type == "image/jpeg" and back.format == "JPEG"


def test_file_path_is_stored_as_is(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "model.weights.bin"
    source.write_bytes(os.urandom(3000))
    for given in (str(source), source):
        record, back = save_load(store, given)
        assert record.type == "file" and record.file_name == "model.weights.bin"
        assert record.uri.endswith(".bin")
        assert isinstance(back, Path) and back.name == "model.weights.bin"
        assert back.read_bytes() == source.read_bytes()
        assert record.preview == "file model.weights.bin 3000 bytes"


def test_folder_is_zipped_and_extracted(store: ArtifactStore, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    (folder / "sub" / "empty").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "b.bin").write_bytes(b"\x00\x01")
    (folder / "run.sh").write_text("#!/bin/sh\n")
    (folder / "run.sh").chmod(0o755)
    record, back = save_load(store, folder)
    assert record.type == "folder" and record.uri.endswith(".zip") and record.file_name == "data"
    assert zipfile.is_zipfile(record.uri)
    assert isinstance(back, Path) and back.is_dir()
    assert (back / "a.txt").read_text() == "alpha"
    assert (back / "sub" / "b.bin").read_bytes() == b"\x00\x01"
    assert (back / "sub" / "empty").is_dir()
    assert os.access(back / "run.sh", os.X_OK)
    assert record.preview == "folder data: 3 files, 17 bytes"
    # without extraction: the zip itself
    assert store.local_copy(record, extract_archive=False) == record.uri


def test_same_folder_content_makes_the_same_zip(store: ArtifactStore, tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "f.txt").write_text("same")
    first = store.save("t", "a", tmp_path / "one")
    os.utime(tmp_path / "two" / "f.txt", (1, 1))  # other timestamps, same content
    second = store.save("t", "b", tmp_path / "two")
    assert first.hash == second.hash and first.uri == second.uri


def make_adder(step: int) -> Any:
    def add(x: int) -> int:
        return x + step

    return add


def test_closure_is_pickled_by_value(store: ArtifactStore) -> None:
    record, back = save_load(store, make_adder(5))
    assert record.type == "pickle"
    assert back(1) == 6
    assert record.preview.startswith("builtins.function:")


def test_lambda_and_plain_objects_are_pickled(store: ArtifactStore) -> None:
    record, back = save_load(store, lambda x: x * 3)
    assert record.type == "pickle" and back(2) == 6
    record, back = save_load(store, complex(1, 2))
    assert record.type == "pickle" and back == complex(1, 2)


def test_unpicklable_object_is_a_clear_error(store: ArtifactStore) -> None:
    import threading

    from ductwork.core.errors import ValidationError

    with pytest.raises(ValidationError, match=r"artifact 'lock' of task t: cannot serialize _thread.lock"):
        store.save("t", "lock", threading.Lock())
    assert not any(p.is_file() for p in Path(store.root).rglob("*"))


def test_custom_serializer(store: ArtifactStore) -> None:
    record = store.save(
        "t", "c", {"k": 1}, serialization_function=lambda o: repr(o).encode(), extension_name=".repr"
    )
    assert record.type == "custom" and record.uri.endswith(".repr") and record.inline is None
    assert store.load(record) == b"{'k': 1}"
    assert store.load(record, deserialization_function=lambda b: eval(b.decode())) == {"k": 1}
    assert record.preview == "dict as 8 bytes (custom serialization)"


def test_custom_serializer_must_return_bytes(store: ArtifactStore) -> None:
    from ductwork.core.errors import ValidationError

    with pytest.raises(ValidationError, match="serialization_function returned str"):
        store.save("t", "c", 1, serialization_function=lambda o: "nope")  # type: ignore[arg-type,return-value]


def test_deserialization_function_applies_to_inline_values(store: ArtifactStore) -> None:
    record = store.save("t", "n", {"a": 1})
    assert store.load(record, deserialization_function=bytes.decode) == '{"a":1}'


def test_pickle_on_request(store: ArtifactStore) -> None:
    record, back = save_load(store, {"a": 1}, extension_name=".pkl")
    assert record.type == "pickle" and record.uri.endswith(".pkl") and back == {"a": 1}


def test_extension_that_does_not_fit_is_refused(store: ArtifactStore) -> None:
    from ductwork.core.errors import ValidationError

    with pytest.raises(ValidationError, match=r"artifact 'a' of task t: extension_name '.csv' does not fit"):
        store.save("t", "a", np.zeros(3), extension_name=".csv")


def test_user_preview_and_metadata(store: ArtifactStore) -> None:
    record = store.save("t", "a", np.zeros(3), preview="my preview", metadata={"epoch": 3})
    assert record.preview == "my preview" and record.metadata == {"epoch": 3}


def test_missing_path_object_is_a_clear_error(store: ArtifactStore, tmp_path: Path) -> None:
    from ductwork.core.errors import ValidationError

    with pytest.raises(ValidationError, match=r"artifact 'f' of task t: path '.*nothing' does not exist"):
        store.save("t", "f", tmp_path / "nothing")


def test_inline_local_copy_and_open(store: ArtifactStore) -> None:
    text = store.save("t", "s", "hello")
    assert Path(store.local_copy(text)).read_text() == "hello"
    value = store.save("t", "j", {"a": (1,)})
    assert Path(store.local_copy(value)).read_text() == '{"a":{"$tuple":[1]}}'
    with store.open(value) as handle:
        assert handle.read() == b'{"a":{"$tuple":[1]}}'


def test_strings_naming_paths_can_stay_strings(store: ArtifactStore, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    path_text = str(tmp_path / "data")
    assert store.save("t", "p", path_text).type == "folder"  # ClearML's upload_artifact behaviour
    record, back = save_load(store, path_text, strings_as_paths=False)
    assert record.type == "str" and back == path_text
    long_path_text = path_text + " " * 20_000
    record, back = save_load(store, long_path_text, strings_as_paths=False)
    assert record.type == "str" and back == long_path_text
    assert (
        store.save("t", "p", tmp_path / "data", strings_as_paths=False).type == "folder"
    )  # a Path is a path


def test_a_file_name_from_a_record_cannot_steer_the_copy(
    store: ArtifactStore, tmp_path: Path, home: Path
) -> None:
    source = tmp_path / "a.txt"
    source.write_text("content")
    record = store.save("t", "f", source)
    record.file_name = "../../../escaped.txt"
    copy = Path(store.local_copy(record))
    assert copy.resolve().is_relative_to(home.resolve())
    assert copy.name == record.hash + ".txt" and copy.read_text() == "content"
    assert not (tmp_path / "escaped.txt").exists()


def test_image_png_cannot_hold_is_pickled(store: ArtifactStore) -> None:
    record, back = save_load(store, Image.new("CMYK", (2, 2), (1, 2, 3, 4)))
    assert record.type == "pickle" and back.mode == "CMYK" and back.getpixel((0, 0)) == (1, 2, 3, 4)


def test_array_subclasses_keep_their_type(store: ArtifactStore) -> None:
    masked = np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])
    record, back = save_load(store, masked)
    assert record.type == "pickle" and type(back) is np.ma.MaskedArray and back.mask.tolist() == [0, 1, 0]
