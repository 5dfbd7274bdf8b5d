"""A Great Expectations suite's verdicts computed in the warehouse, in one query over the window: how every
window is judged first, on both warehouses. GX reads DuckDB only as pandas frames (at 10M node runs the marts'
windows were minutes of a history's checks: node_run_states_daily's suite alone 107 s), and on PostgreSQL it
runs several queries per expectation (at 1M, the history's checks took 53.1 s with them, 39.5 s now), for
verdicts that one aggregate query gives in seconds. GX itself then validates only a window whose verdicts
fail, for the details and the Data Docs page, and its verdict stands (`gx.GreatExpectations.validate`).

Each expectation type here keeps GX's own semantics: a null is unexpected only to `not_null`, the others
ignore it (a compound key ignores a row whose columns are all null), and a uniqueness expectation counts every
row of a repeated value. Where GX's two engines differ (a compound key with one null: its pandas engine counts
a repeat, its SQL engine ignores the row) the verdicts take the stricter. A suite with another type, or an
option not listed, gets no verdicts here (None) and is validated by GX whole: a verdict here must never pass
what GX would fail. Plain SQL (FILTER, a CTE, scalar subqueries) that both warehouses run.
"""

from __future__ import annotations

from typing import Any

from orchestration.warehouse import Warehouse


def unexpected_counts(warehouse: Warehouse, expectations: list[dict[str, Any]], window: str) -> list[int] | None:
    """Per expectation, in the suite's order, the number of rows of the `window` query it finds unexpected
    (0: it passes); None when an expectation is not one this module evaluates. The row-by-row expectations
    share one scan of the window; each uniqueness expectation groups it once more."""
    counts = [_unexpected(e["type"], e["kwargs"]) for e in expectations]
    if not counts or any(c is None for c in counts):
        return None
    # The window is read once by the row-by-row expectations and once by each uniqueness expectation, as a
    # subquery each time, not a CTE: PostgreSQL writes a CTE read twice out whole first (at 1M node runs, 0.9 s
    # of node_run_states_daily's 2.55 s history window).
    select = ", ".join(c.replace(_WINDOW, f"({window})") for c in counts)
    try:
        (row,) = warehouse.execute(f"select {select} from ({window}) as w")
    except Exception:  # noqa: BLE001 - e.g. a column the window lacks: GX reports that as a failed expectation
        return None
    return [int(v or 0) for v in row]


def _unexpected(kind: str, kwargs: dict[str, Any]) -> str | None:
    """An aggregate over the window `w` (or a scalar subquery of it): the rows the expectation finds
    unexpected; None for a type or an option not evaluated here."""
    evaluate, allowed = _TYPES.get(kind, (None, set()))
    options = set(kwargs) - {"column", "column_list", "column_A", "column_B"}
    if evaluate is None or not options <= allowed:
        return None
    return evaluate(kwargs)


def _not_null(kwargs: dict[str, Any]) -> str | None:
    return _rows(f"{_q(kwargs['column'])} is null")


def _in_set(kwargs: dict[str, Any]) -> str | None:
    column, values = _q(kwargs["column"]), [_literal(v) for v in kwargs["value_set"]]
    if None in values:
        return None
    outside = f"{column} not in ({', '.join(values)})" if values else "true"
    return _rows(f"{column} is not null and {outside}")


def _between(kwargs: dict[str, Any]) -> str | None:
    column, bounds = _q(kwargs["column"]), []
    for option, op in (("min_value", "<"), ("max_value", ">")):
        bound = kwargs.get(option)
        if bound is None:
            continue
        # A number only: GX compares a date string with a timestamp column its own way.
        if isinstance(bound, bool) or not isinstance(bound, int | float):
            return None
        bounds.append(f"{column} {op} {bound!r}")
    return _rows(f"{column} is not null and ({' or '.join(bounds)})") if bounds else None


def _a_greater_than_b(kwargs: dict[str, Any]) -> str | None:
    # Only rows with both values: GX's default would compare a missing value too.
    if kwargs.get("ignore_row_if") != "either_value_is_missing":
        return None
    a, b = _q(kwargs["column_A"]), _q(kwargs["column_B"])
    op = ">=" if kwargs.get("or_equal") else ">"
    return _rows(f"{a} is not null and {b} is not null and not ({a} {op} {b})")


def _unique(kwargs: dict[str, Any]) -> str | None:
    return _repeated([kwargs["column"]])


def _compound_unique(kwargs: dict[str, Any]) -> str | None:
    return _repeated(list(kwargs["column_list"]))


# The types evaluated here, each with the options (beyond its columns) it may carry.
_TYPES: dict[str, tuple[Any, set[str]]] = {
    "expect_column_values_to_not_be_null": (_not_null, set()),
    "expect_column_values_to_be_in_set": (_in_set, {"value_set"}),
    "expect_column_values_to_be_between": (_between, {"min_value", "max_value"}),
    "expect_column_pair_values_a_to_be_greater_than_b": (_a_greater_than_b, {"or_equal", "ignore_row_if"}),
    "expect_column_values_to_be_unique": (_unique, set()),
    "expect_compound_columns_to_be_unique": (_compound_unique, set()),
}


# Where a uniqueness expectation reads the window (unexpected_counts puts the window's query there).
_WINDOW = "<window>"


def _rows(condition: str) -> str:
    return f"count(*) filter (where {condition})"


def _repeated(columns: list[str]) -> str:
    """The rows whose value (or values) another row of the window repeats, nulls equal to nulls; a row whose
    key is all null is ignored. So GX's pandas engine counts them; its SQL engine ignores a key with any null,
    so on PostgreSQL such a repeat goes to GX, whose verdict stands."""
    key = ", ".join(_q(c) for c in columns)
    present = " or ".join(f"{_q(c)} is not null" for c in columns)
    groups = f"select count(*) as n from {_WINDOW} as w where {present} group by {key} having count(*) > 1"
    return f"(select sum(n) from ({groups}) as repeated)"


def _q(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _literal(value: Any) -> str | None:
    """A value of a suite's set as SQL: a string or a number; None for another kind."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    return None
