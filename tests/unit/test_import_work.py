"""Importing a ductwork module does no work: no pattern compiled, no process started, no file
tree walked, no distribution looked up, no source tokenized at module level.

A fresh interpreter imports every module of the package with those functions wrapped; a call
made by a module body (`<module>`) itself is work done at import time. Work
inside functions (a pattern compiled on first use, `core.patterns.Pattern`) is what we want.
Nothing here is timed; `bench/bench_imports.py` measures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

_PROBE = r"""
import functools, importlib, json, os, pkgutil, sys
PACKAGE = os.path.join(sys.argv[1], "ductwork") + os.sep
found = []

def at_import(name):
    frame = sys._getframe(2)  # the caller of the watched function
    if frame.f_code.co_filename.startswith(PACKAGE) and frame.f_code.co_name == "<module>":
        where = os.path.relpath(frame.f_code.co_filename, sys.argv[1])
        found.append(f"{where}:{frame.f_lineno} {name}")

def watch(owner, attribute):
    original = getattr(owner, attribute)
    name = f"{getattr(owner, '__name__', owner)}.{attribute}"
    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        at_import(name)
        return original(*args, **kwargs)
    setattr(owner, attribute, wrapper)

import re, subprocess, tokenize, inspect, importlib.metadata, glob
for function in ("compile", "match", "fullmatch", "search", "sub", "findall", "finditer", "split"):
    watch(re, function)
for function in ("run", "check_output", "call"):
    watch(subprocess, function)
watch(subprocess.Popen, "__init__")
watch(tokenize, "generate_tokens")
watch(tokenize, "tokenize")
watch(inspect, "getsource")
watch(inspect, "signature")
watch(importlib.metadata, "distributions")
watch(importlib.metadata, "distribution")
watch(importlib.metadata, "version")
watch(os, "walk")
watch(os, "scandir")
watch(glob, "glob")

import ductwork
skipped = []
for module in pkgutil.walk_packages(ductwork.__path__, "ductwork."):
    if module.name.rpartition(".")[2] == "__main__":  # runs a program when imported
        continue
    try:
        importlib.import_module(module.name)
    except ImportError as exc:  # an optional dependency this machine lacks (ray, ...)
        if (exc.name or "").startswith("ductwork"):
            raise
        skipped.append(module.name)
print(json.dumps({"found": found, "skipped": skipped, "modules": len(sys.modules)}))
"""


def test_no_ductwork_module_does_work_when_imported(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC), "DUCTWORK_HOME": str(tmp_path / "home")}
    for key in ("DUCTWORK_DB_URL", "DUCTWORK_API_URL"):
        env.pop(key, None)
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(SRC)], capture_output=True, text=True, env=env, check=True
    )
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["found"] == [], "work done at import time (make it lazy: core.patterns.Pattern, a function)"
    assert not [name for name in report["skipped"] if not name.startswith("ductwork.agent.ray")]


def test_a_pattern_compiles_on_first_use_and_behaves_as_compiled() -> None:
    import re

    from ductwork.core.patterns import Pattern

    pattern = Pattern(r"(?P<word>[a-z]+)-(\d+)", re.I)
    assert pattern._compiled is None  # nothing compiled yet
    assert pattern.pattern == r"(?P<word>[a-z]+)-(\d+)"
    match = pattern.fullmatch("Abc-12")
    assert match is not None and match.group("word") == "Abc"
    assert pattern._compiled is not None
    assert pattern.flags & re.I
    assert pattern.sub(r"\2", "x-1 y-2") == "1 2"
    assert pattern.sub(lambda m: m.group(1).upper(), "ab-1") == "AB"
    assert pattern.findall("a-1 b-2") == [("a", "1"), ("b", "2")]
    assert [m.group(0) for m in pattern.finditer("a-1 b-2")] == ["a-1", "b-2"]
    assert pattern.search("  q-9") is not None and pattern.match("  q-9") is None
    assert pattern.split("a-1,b-2", 1) == ["", "a", "1", ",b-2"]


_PIPELINE = """
import sys, tokenize
from ductwork import PipelineDecorator

@PipelineDecorator.component(return_values=["y"], cache=True)
def inc(x):
    import os

    return x + len(os.sep)

@PipelineDecorator.pipeline(name="light", project="imports")
def pipe(x=1):
    return inc(x)

PipelineDecorator.debug_pipeline()
assert pipe() == 2
loaded = [name for name in ("uuid", "platform", "importlib.metadata") if name in sys.modules]
print(loaded, tokenize._compile.cache_info().currsize)
"""


def test_a_debug_pipeline_of_standard_library_steps_loads_no_metadata_nor_tokenizer(
    tmp_path: Path,
) -> None:
    # Its steps' code is captured and keyed, but nothing needs a distribution's version (no
    # installed package is used), ids need no uuid module, and code without a multi-line
    # string is cut without tokenizing it (tokenize compiles a large pattern on first use).
    script = tmp_path / "pipe.py"
    script.write_text(_PIPELINE)
    env = {**os.environ, "PYTHONPATH": str(SRC), "DUCTWORK_HOME": str(tmp_path / "home")}
    for key in ("DUCTWORK_DB_URL", "DUCTWORK_API_URL"):
        env.pop(key, None)
    bare = subprocess.run(
        [sys.executable, "-c", "import sys; print(sorted(sys.modules))"], capture_output=True, text=True
    ).stdout
    # The first run creates the store (its migration loads Alembic, and with it all three).
    for _run in ("first", "second, a cache hit"):
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
    loaded, compiled = done.stdout.splitlines()[-1].rsplit(" ", 1)
    assert [m for m in json.loads(loaded.replace("'", '"')) if f"'{m}'" not in bare] == []
    assert compiled == "0"
