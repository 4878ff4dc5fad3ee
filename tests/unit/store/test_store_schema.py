"""`store/schema.py` (what the plain-SQL queries know of the columns) says what `tables.py` (the
schema the Alembic chain creates) says. `python3 tests/unit/store/test_store_schema.py` rewrites it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).resolve().parents[3] / "src" / "ductwork" / "store" / "schema.py"


def _expected(column: Any) -> Any:
    import sqlalchemy as sa

    from ductwork.store.schema import INT32, INT64, MAX_TEXT, Column

    kind_of = column.type
    # A column the database fills itself (a server default, an autoincrement id) may be left out.
    nullable = bool(column.nullable) or column.server_default is not None or column.autoincrement is True
    name = column.name
    if isinstance(kind_of, sa.Boolean):
        return Column(name, "bool", nullable, codec="bool")
    if isinstance(kind_of, sa.Integer):
        return Column(name, "int", nullable, *(INT64 if isinstance(kind_of, sa.BigInteger) else INT32))
    if isinstance(kind_of, sa.Float):
        # A metric's value may be NaN or infinite (a diverged loss); times may not.
        return Column(name, "float", nullable, finite=name != "last_value")
    if isinstance(kind_of, sa.types.TypeDecorator):  # tables.Json: JSON text / jsonb
        return Column(name, "any", nullable, codec="json")
    if isinstance(kind_of, sa.String):
        return Column(name, "str" if kind_of.length else "text", nullable, 0, kind_of.length or MAX_TEXT)
    return Column(name, "any", nullable)


def test_schema_module_matches_the_tables() -> None:
    from ductwork.store import schema, tables

    expected = {
        table.name: {column.name: _expected(column) for column in table.columns}
        for table in tables.metadata.sorted_tables
    }
    assert expected == schema.TABLES, "run: python3 tests/unit/store/test_store_schema.py"


def test_every_json_and_bool_column_is_converted() -> None:
    from ductwork.store import schema

    codecs = {(t, c.name) for t, columns in schema.TABLES.items() for c in columns.values() if c.codec}
    assert ("tasks", "runtime") in codecs and ("models", "published") in codecs


def _render() -> str:
    from ductwork.store import tables

    text = SCHEMA.read_text()
    head = text[: text.index("TABLES: dict")]
    lines = ["TABLES: dict[str, dict[str, Column]] = {"]
    for table in tables.metadata.sorted_tables:
        lines.append(f"    {table.name!r}: {{")
        for column in table.columns:
            lines.append(f"        {column.name!r}: {_expected(column)!r},")
        lines.append("    },")
    return head + "\n".join(lines) + "\n}\n"


if __name__ == "__main__":
    sys.path.insert(0, str(SCHEMA.parents[2]))
    SCHEMA.write_text(_render())
    print(f"wrote {SCHEMA} (run ruff format on it)")
