"""The tables dastat writes, read back: results files of any command, filtered rows, interval columns.

>>> read_table([{"da": "cutmix", "t_stddev": 0.01}]).shape
(1, 2)
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import UserError
from .io import json_safe
from .provenance import records_of, sidecar_path

if TYPE_CHECKING:  # pandas is imported only when a table is read
    import pandas as pd

def read_table(source: Any) -> "pd.DataFrame":
    """A DataFrame from a DataFrame, a list of dicts, or a path to a ``.csv`` or ``.json`` file.

    A JSON file holds a list of records (what ``dastat rank --json`` and ``dastat validate``
    write). Interval columns come in three spellings, all accepted downstream (see
    :func:`interval_columns`): a list ``[low, high]`` (JSON), a ``"[low, high]"`` string (a
    list saved to CSV), or ``<name>_ci_low`` / ``<name>_ci_high`` columns.

    >>> read_table([{"da": "cutmix", "t_stddev": 0.01}]).shape
    (1, 2)
    """
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source.copy()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise UserError(f"cannot read {path}: no such file")
        if path.suffix.lower() == ".csv":
            frame = _read_csv(path)
        else:
            frame = pd.DataFrame.from_records(load_results(path)["results"])
    elif isinstance(source, Sequence) and all(isinstance(r, Mapping) for r in source):
        frame = pd.DataFrame.from_records(list(source))
    else:
        raise UserError(f"expected a DataFrame, a list of records or a .csv/.json path, not {type(source).__name__}")
    if frame.empty:
        raise UserError("the table has no rows")
    return frame


def _read_csv(path: Path) -> "pd.DataFrame":
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None


def load_results(path: str | os.PathLike) -> dict[str, Any]:
    """A results file of any dastat command, in the one shape they all write: ``{"provenance": ...,
    "results": [records], ...}`` (what else the file holds, e.g. a sweep's ``correlations``, is kept).

    Reads ``.json`` files of every command and the older shapes (a bare list of records, ``validate``'s
    ``{"rows": ...}`` and ``{"scores": ...}``; their provenance is None when they had none), and ``.csv``
    files, whose provenance comes from the ``<file>.provenance.json`` sidecar when there is one.
    """
    path = Path(os.path.expandvars(os.path.expanduser(str(path))))
    if not path.is_file():
        raise UserError(f"cannot read {path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = _read_csv(path)
        sidecar = sidecar_path(path)
        record = _json_of(sidecar).get("provenance") if sidecar.is_file() else None
        return {"provenance": record, "results": json_safe(frame.to_dict(orient="records"))}
    if suffix != ".json":
        raise UserError(f"cannot read {path}: the file must end in .csv or .json")
    loaded = _json_of(path)
    records = records_of(loaded)
    if records is None or not all(isinstance(r, dict) for r in records):
        raise UserError(f"{path} holds no dastat results: a JSON list of records (objects), or an object with "
                        "them under \"results\"")
    doc = dict(loaded) if isinstance(loaded, dict) else {}
    for key in ("results", "rows", "scores"):
        doc.pop(key, None)
    return {"provenance": doc.pop("provenance", None), "results": records, **doc}


def _json_of(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None


def require_columns(frame: "pd.DataFrame", columns: Iterable[str]) -> None:
    """A UserError naming the table's columns unless it has every one of ``columns``."""
    for col in columns:
        if col not in frame.columns:
            raise UserError(f"there is no column {col!r}; the table has {', '.join(map(str, frame.columns))}")


def numeric(column: "pd.Series", name: str) -> "pd.Series":
    """``column`` as floats; a UserError quoting the first value that is not a number."""
    import pandas as pd

    converted = pd.to_numeric(column, errors="coerce")
    bad = converted.isna() & column.notna()
    if bad.any():
        raise UserError(f"column {name!r} must hold numbers, but holds {column[bad].iloc[0]!r}")
    return converted.astype(float)


def read_frame(data: Any, where: Iterable[str] | str | None, columns: Sequence[str] = (),
               numbers: Sequence[str] = ()) -> "pd.DataFrame":
    """:func:`read_table` of ``data``, rows filtered by ``where`` and numbered from 0, checked to have
    ``columns``, with the columns ``numbers`` as floats (:func:`numeric`)."""
    frame = apply_where(read_table(data), where)
    require_columns(frame, columns)
    for col in numbers:
        frame[col] = numeric(frame[col], col)
    return frame.reset_index(drop=True)


def apply_where(frame: "pd.DataFrame", where: Iterable[str] | str | None) -> "pd.DataFrame":
    """Rows whose column equals a value, for each ``"COLUMN=VALUE"`` condition (all must hold).

    The value is compared as text, so ``"seed=0"`` matches an integer column too.

    >>> import pandas as pd
    >>> apply_where(pd.DataFrame({"s": ["a", "b"], "v": [1, 2]}), "s=b")["v"].tolist()
    [2]
    """
    if not where:
        return frame
    conditions = [where] if isinstance(where, str) else list(where)
    for cond in conditions:
        col, sep, value = str(cond).partition("=")
        col = col.strip()
        if not sep or not col:
            raise UserError(f"a condition must look like COLUMN=VALUE, not {cond!r}")
        require_columns(frame, [col])
        frame = frame[frame[col].astype(str).str.strip() == value.strip()]
        if frame.empty:
            raise UserError(f"no row has {col} equal to {value.strip()!r}")
    return frame.copy()


_LIST = re.compile(r"^\s*[\[(]\s*([^,\s]+)\s*,\s*([^,\s]+)\s*[\])]\s*$")


def _parse_pair(value: Any) -> tuple[float, float]:
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) == 2:
        pair = value
    elif isinstance(value, str) and (m := _LIST.match(value)):
        pair = m.groups()
    else:
        return (math.nan, math.nan)
    try:
        return tuple(math.nan if v is None or v in ("None", "null") else float(v) for v in pair)  # type: ignore
    except (TypeError, ValueError):
        return (math.nan, math.nan)


def interval_columns(frame: "pd.DataFrame", name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``(low, high)`` arrays of column ``name``'s interval, or None when the table has none.

    Reads ``<name>_ci`` (lists or ``"[low, high]"`` strings) or ``<name>_ci_low`` and
    ``<name>_ci_high``; unreadable entries become NaN.

    >>> import pandas as pd
    >>> low, high = interval_columns(pd.DataFrame({"t_ci": [[1, 2], "[3, 4]"]}), "t")
    >>> low.tolist(), high.tolist()
    ([1.0, 3.0], [2.0, 4.0])
    """
    if f"{name}_ci_low" in frame.columns and f"{name}_ci_high" in frame.columns:
        low = numeric(frame[f"{name}_ci_low"], f"{name}_ci_low").to_numpy()
        high = numeric(frame[f"{name}_ci_high"], f"{name}_ci_high").to_numpy()
        return low, high
    if f"{name}_ci" in frame.columns:
        pairs = np.array([_parse_pair(v) for v in frame[f"{name}_ci"]], dtype=float).reshape(-1, 2)
        return pairs[:, 0], pairs[:, 1]
    return None
