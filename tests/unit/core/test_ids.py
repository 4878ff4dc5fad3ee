"""Task and record ids: version 4 UUIDs' hex, made from the kernel's randomness a batch at a
time; never the same twice, whichever thread or forked child asks."""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from ductwork.core.records import new_id


def test_ids_are_version_4_uuids_hex() -> None:
    for made in (new_id() for _ in range(600)):  # past one batch
        parsed = uuid.UUID(made)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and parsed.hex == made


def test_threads_never_take_the_same_id() -> None:
    taken: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def take(mine: list[str]) -> None:
        start.wait()
        mine.extend(new_id() for _ in range(5_000))

    threads = [threading.Thread(target=take, args=(mine,)) for mine in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [made for mine in taken for made in mine]
    assert len(set(every)) == len(every) == 40_000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_does_not_make_its_parents_next_ids() -> None:
    new_id()  # a batch is made: the rest of it waits for the next calls
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os.write(write, "".join(new_id() for _ in range(4)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    childs = {text[i : i + 32] for i in range(0, len(text), 32)}
    assert len(childs) == 4 and not childs & {new_id() for _ in range(4)}
