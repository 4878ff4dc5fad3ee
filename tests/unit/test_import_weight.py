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


def _pipeline(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A one-step decorator pipeline in debug mode (cached), and its environment."""
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
    return f"exec(compile(open({str(script)!r}).read(), 'pipe.py', 'exec'))", env


def test_a_pipeline_on_the_embedded_store_loads_no_remote_or_data_library(
    tmp_path: Path, bare: set[str]
) -> None:
    # Runs the pipeline twice (the second a cache hit). The embedded path is plain SQL on sqlite3,
    # from the first run on (a new database is made from the frozen schema, not by Alembic): no
    # SQLAlchemy, no Alembic, no psycopg, no HTTP client, no remote storage, no numpy/pandas, no
    # server.
    statement, env = _pipeline(tmp_path)
    unneeded: tuple[str, ...] = ("sqlalchemy", "alembic", "psycopg", "fsspec", "httpx", "numpy", "pandas")
    unneeded += ("fastapi", "uvicorn", "ductwork.server", "ductwork.store.tables")
    for run in ("first: creates the store and the cache", "second: a cache hit"):
        loaded = _modules(statement, env) - bare
        assert _among(loaded, unneeded) == [], run
        assert "sqlite3" in loaded and "ductwork.store.sql" in loaded  # it did use the store


def test_a_fresh_home_opens_without_sqlalchemy_or_alembic(tmp_path: Path, bare: set[str]) -> None:
    # The first use of a new DUCTWORK_HOME creates the SQLite store at the current schema from
    # the frozen script (store/migrations/head.sqlite.sql), not through the Alembic chain.
    import sqlite3

    from ductwork.store import migrate

    home = tmp_path / "home"
    statement = "from ductwork.client import backend\nbackend().list_queues()"
    loaded = _modules(statement, {"DUCTWORK_HOME": str(home)}) - bare
    assert _among(loaded, ("sqlalchemy", "alembic", "mako", "pygments")) == []
    assert "ductwork.store.store" in loaded  # the embedded store, opened
    with sqlite3.connect(home / "ductwork.db") as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == (migrate.HEAD,)
    connection.close()


def test_an_older_schema_is_migrated_then_runs_light_again(tmp_path: Path, bare: set[str]) -> None:
    # A store Alembic left at the first revision (as an older ductwork made it): the next run
    # imports Alembic once to migrate it, and the run after that imports neither.
    import sqlite3

    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from ductwork.store import migrate

    statement, env = _pipeline(tmp_path)
    database = tmp_path / "home" / "ductwork.db"
    database.parent.mkdir()
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    engine.dispose()
    assert "alembic" in _modules(statement, env)  # the check sees a migration's imports
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == (migrate.HEAD,)
    assert _among(_modules(statement, env) - bare, ("sqlalchemy", "alembic")) == []
