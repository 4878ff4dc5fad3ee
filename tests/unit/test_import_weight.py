"""`import ductwork` and its public names stay light: heavy libraries load where they are used.

Each check runs a fresh interpreter and compares its `sys.modules` with a bare interpreter's, so
a module the site hooks of a machine load anyway is not counted against ductwork. Nothing here
is timed; `bench/bench_imports.py` measures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")

# Third-party libraries only some paths need, and standard-library modules that cost several
# milliseconds to import and that the public names do not need until something runs.
HEAVY = (
    "sqlalchemy",
    "alembic",
    "fsspec",
    "httpx",
    "numpy",
    "pandas",
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "click",
    "rich",
    "jinja2",
    "cloudpickle",
    "psycopg",
    "yaml",
    "requests",
    "PIL",
    "ray",
    "asyncio",
    "ssl",
    "sqlite3",
    "email",
    "importlib.metadata",
    "multiprocessing",
    "ductwork.store.store",
    "ductwork.client.embedded",
    "ductwork.client.http",
    "ductwork.codegen.builder",
    "ductwork.server",
)

_REPORT = "import json, sys; print(json.dumps(sorted(sys.modules)))"


def _modules(statement: str, env: dict[str, str] | None = None) -> set[str]:
    environment = {**os.environ, "PYTHONPATH": SRC, **(env or {})}
    for key in ("DUCTWORK_DB_URL", "DUCTWORK_API_URL"):  # the embedded store under DUCTWORK_HOME
        environment.pop(key, None)
    code = f"{statement}\n{_REPORT}" if statement else _REPORT
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def _among(loaded: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == n or m.startswith(n + ".") for n in names))


@pytest.fixture(scope="module")
def bare() -> set[str]:
    return _modules("")


@pytest.mark.parametrize(
    "statement",
    [
        "import ductwork",
        "from ductwork import PipelineController, PipelineDecorator, Task",
        "from ductwork import TaskTypes, Logger, OutputModel, InputModel, Model, StorageManager",
        "import ductwork.codegen",
    ],
)
def test_importing_the_public_names_loads_no_heavy_module(statement: str, bare: set[str]) -> None:
    assert _among(_modules(statement) - bare, HEAVY) == []


def test_import_ductwork_loads_none_of_its_parts(bare: set[str]) -> None:
    # Every public name is imported on first use (ductwork.__getattr__).
    parts = sorted(m for m in _modules("import ductwork") - bare if m.startswith("ductwork."))
    assert parts == []


def test_a_pipeline_on_the_embedded_store_loads_no_remote_or_data_library(
    tmp_path: Path, bare: set[str]
) -> None:
    # Runs a one-step decorator pipeline twice in debug mode (the second a cache hit); the
    # embedded path needs SQLAlchemy, but not Alembic on a current schema, nor SQLAlchemy's
    # PostgreSQL dialect, the HTTP client, remote storage, numpy/pandas or the server.
    script = tmp_path / "pipe.py"
    script.write_text(
        "from ductwork import PipelineDecorator\n"
        "@PipelineDecorator.component(return_values=['y'], cache=True)\n"
        "def inc(x):\n"
        "    return x + 1\n"
        "@PipelineDecorator.pipeline(name='light', project='imports')\n"
        "def pipe(x=1):\n"
        "    return inc(x)\n"
        "PipelineDecorator.debug_pipeline()\n"
        "assert pipe() == 2\n"
    )
    env = {"DUCTWORK_HOME": str(tmp_path / "home")}
    statement = f"exec(compile(open({str(script)!r}).read(), 'pipe.py', 'exec'))"
    _modules(statement, env)  # creates the store and primes the cache
    loaded = _modules(statement, env) - bare
    unneeded: tuple[str, ...] = ("alembic", "fsspec", "httpx", "numpy", "pandas", "fastapi", "uvicorn")
    unneeded += ("ductwork.server", "sqlalchemy.dialects.postgresql")  # the latter on SQLite
    assert _among(loaded, unneeded) == []
    assert "sqlalchemy" in loaded  # the check sees the embedded path's imports at all
