"""A strict, plain-data format for the values that cross between a learner's kernel and the grader.

The grader never receives a learner's objects: the kernel turns a return value into JSON
text with :func:`encode`, and the grader rebuilds fresh objects from that text with
:func:`decode`, which accepts only these types:

- ``None``, ``bool``, ``int``, ``float``, ``str`` (and numpy's scalar types of those kinds);
- ``list``, ``tuple`` and ``dict`` (keys: str, int, float, bool or None) of accepted values;
- ``numpy.ndarray`` of bool, integer or floating dtype;
- ``pandas.Series`` / ``pandas.DataFrame`` whose values are of such dtypes (or strings), with an
  index of plain scalars;
- ``pathlib.Path``.

Anything else, subclasses included (a ``float`` subclass whose ``__eq__`` always says yes, an
``ndarray`` subclass, a ``Series`` subclass), is encoded as "unsupported" with its type name,
and :func:`decode` turns it into :class:`Unsupported`, which every check reports as a wrong
result type. Types are tested with ``type(x) is ...``, never ``isinstance``, and nothing of the
value's own code is called except numpy's and pandas' accessors on exact numpy/pandas types.

JSON is written by hand-made dicts (``{"t": tag, ...}``) rather than pickle, because
unpickling runs code chosen by whoever wrote the bytes; numpy's ``.npy`` format alone cannot
carry tuples, dicts or pandas objects.

Examples
--------
>>> import numpy as np
>>> text = encode({"ratio": 0.5, "mask": np.array([True, False])})
>>> value = decode(text)
>>> value["ratio"], value["mask"].dtype
(0.5, dtype('bool'))
>>> class AlwaysEqual(float):
...     def __eq__(self, other):
...         return True
>>> decode(encode(AlwaysEqual(1.0)))
Unsupported('medprep_helpers.wire.AlwaysEqual')
"""

from __future__ import annotations

import base64
import json
import math
import pathlib
import sys
from typing import Any

import numpy as np

__all__ = ["Unsupported", "WireError", "encode", "decode", "to_plain", "unsupported_part", "MAX_DEPTH", "MAX_BYTES"]

MAX_DEPTH = 20  # nesting of lists/dicts
MAX_BYTES = 64_000_000  # one encoded value (a 512 x 512 float64 image is 2 MB)
_ARRAY_KINDS = "biuf"  # bool, signed int, unsigned int, float
_SCALAR_NAMES = {bool: "bool", int: "int", float: "float", str: "str"}


class WireError(ValueError):
    """Text that is not a well-formed value of this format."""


class Unsupported:
    """Stands for a value of a type the format does not carry (the type's name is kept for the message)."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str):
        self.type_name = str(type_name)[:200]

    def __repr__(self) -> str:
        return f"Unsupported({self.type_name!r})"

    def __eq__(self, other: Any) -> bool:
        return type(other) is Unsupported and other.type_name == self.type_name

    def __hash__(self) -> int:
        return hash(self.type_name)


# --------------------------------------------------------------------------- encoding


def _type_name(value: Any) -> str:
    kind = type(value)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _float(value: float) -> Any:
    # JSON has no NaN/inf: keep them as tagged strings.
    return value if math.isfinite(value) else {"t": "float", "v": repr(value)}


def _array(value: np.ndarray) -> dict:
    array = np.ascontiguousarray(value)
    return {
        "t": "ndarray",
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "b64": base64.b64encode(array.tobytes()).decode("ascii"),
    }


def _labels(index) -> dict:
    # pandas 3 stores strings in its own dtype: carry labels as a list of plain scalars.
    return {"name": _encode(index.name, 0), "values": [_encode(v, 0) for v in index.tolist()]}


def _column(series) -> dict:
    values = series.to_numpy()
    if values.dtype.kind in _ARRAY_KINDS:
        return _array(values)
    items = series.tolist()
    if all(type(v) is str or v is None or (type(v) is float and math.isnan(v)) for v in items):
        return {"t": "strings", "v": [v if type(v) is str else None for v in items]}
    return {"t": "unsupported", "type": f"column of dtype {series.dtype}"}


def _encode(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        return {"t": "unsupported", "type": f"nesting deeper than {MAX_DEPTH}"}
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return _float(value)
    if isinstance(value, np.generic) and kind.__module__ == "numpy":
        if value.dtype.kind in _ARRAY_KINDS:
            item = value.item()
            return {"t": "npscalar", "dtype": value.dtype.str, "v": _float(item) if type(item) is float else item}
        return {"t": "unsupported", "type": _type_name(value)}
    if kind in (list, tuple):
        return {"t": kind.__name__, "v": [_encode(v, depth + 1) for v in value]}
    if kind is dict:
        items = []
        for key, item in value.items():
            if not (key is None or type(key) in (str, int, float, bool)):
                return {"t": "unsupported", "type": f"dict with a {_type_name(key)} key"}
            items.append([_encode(key, depth + 1), _encode(item, depth + 1)])
        return {"t": "dict", "v": items}
    if kind is np.ndarray:
        if value.dtype.kind in _ARRAY_KINDS:
            return _array(value)
        return {"t": "unsupported", "type": f"numpy.ndarray of dtype {value.dtype}"}
    if kind is pathlib.PosixPath or kind is pathlib.WindowsPath:
        return {"t": "path", "v": str(value)}
    pd = sys.modules.get("pandas")  # a pandas object can only exist once pandas is imported
    if pd is not None:
        if kind is pd.Series:
            return {"t": "series", "name": _encode(value.name, depth + 1), "index": _labels(value.index),
                    "values": _column(value)}
        if kind is pd.DataFrame:
            columns = _labels(value.columns)
            data = [_column(value.iloc[:, i]) for i in range(value.shape[1])]
            return {"t": "dataframe", "index": _labels(value.index), "columns": columns, "data": data}
    return {"t": "unsupported", "type": _type_name(value)}


def encode(value: Any) -> str:
    """JSON text for ``value`` in this format (unsupported parts are marked, not dropped).

    Examples
    --------
    >>> encode((1, "a"))
    '{"t": "tuple", "v": [1, "a"]}'
    """
    return json.dumps(_encode(value, 0))


# --------------------------------------------------------------------------- decoding


def _fail(what: str) -> None:
    raise WireError(f"malformed value: {what}")


def _dtype(text: Any) -> np.dtype:
    if type(text) is not str or len(text) > 8:
        _fail("dtype must be a short string")
    try:
        dtype = np.dtype(text)
    except TypeError:
        _fail(f"unknown dtype {text!r}")
    if dtype.kind not in _ARRAY_KINDS or dtype.itemsize > 16 or dtype.fields is not None or dtype.subdtype:
        _fail(f"dtype {text!r} is not bool, integer or float")
    return dtype


def _decode_array(node: dict) -> np.ndarray:
    dtype = _dtype(node.get("dtype"))
    shape = node.get("shape")
    if type(shape) is not list or len(shape) > 32 or not all(type(n) is int and n >= 0 for n in shape):
        _fail("shape must be a list of non-negative ints")
    raw = node.get("b64")
    if type(raw) is not str:
        _fail("array data must be base64 text")
    try:
        buffer = base64.b64decode(raw, validate=True)
    except ValueError:
        _fail("array data is not base64")
    if len(buffer) != math.prod(shape) * dtype.itemsize:
        _fail("array data does not match its shape and dtype")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape).copy()


def _scalar_or_fail(node: Any, allowed=(type(None), bool, int, float, str)) -> Any:
    value = _decode(node, 0)
    if type(value) not in allowed and not (isinstance(value, np.generic) and type(value).__module__ == "numpy"):
        _fail("labels must be plain scalars")
    return value


def _decode_labels(node: Any):
    import pandas as pd

    if type(node) is not dict or type(node.get("values")) is not list:
        _fail("index must have a list of values")
    values = [_scalar_or_fail(v) for v in node["values"]]
    return pd.Index(values, name=_scalar_or_fail(node.get("name")), tupleize_cols=False)


def _decode_column(node: Any) -> Any:
    if type(node) is not dict:
        _fail("a column must be tagged")
    if node.get("t") == "ndarray":
        return _decode_array(node)
    if node.get("t") == "strings" and type(node.get("v")) is list:
        if not all(v is None or type(v) is str for v in node["v"]):
            _fail("string column with non-strings")
        return list(node["v"])
    if node.get("t") == "unsupported":
        return Unsupported(node.get("type", "?"))
    _fail("unknown column kind")


def _decode(node: Any, depth: int) -> Any:
    if depth > MAX_DEPTH + 2:
        _fail("nested too deeply")
    kind = type(node)
    if node is None or kind in (bool, int, str, float):
        return node
    if kind is not dict:
        _fail(f"unexpected JSON {kind.__name__}")
    tag = node.get("t")
    if tag == "float":
        if node.get("v") not in ("nan", "inf", "-inf"):
            _fail("float tag for a finite number")
        return float(node["v"])
    if tag == "npscalar":
        dtype = _dtype(node.get("dtype"))
        item = _decode(node.get("v"), depth + 1)
        if type(item) not in (bool, int, float):
            _fail("numpy scalar without a number")
        return dtype.type(item)
    if tag in ("list", "tuple"):
        items = node.get("v")
        if type(items) is not list:
            _fail(f"{tag} without items")
        values = [_decode(v, depth + 1) for v in items]
        return values if tag == "list" else tuple(values)
    if tag == "dict":
        items = node.get("v")
        if type(items) is not list or not all(type(p) is list and len(p) == 2 for p in items):
            _fail("dict must be a list of pairs")
        result = {}
        for key, item in items:
            key = _decode(key, depth + 1)
            if not (key is None or type(key) in (str, int, float, bool)):
                _fail("dict key must be a plain scalar")
            result[key] = _decode(item, depth + 1)
        return result
    if tag == "ndarray":
        return _decode_array(node)
    if tag == "path":
        if type(node.get("v")) is not str:
            _fail("path must be text")
        return pathlib.Path(node["v"])
    if tag == "series":
        import pandas as pd

        index = _decode_labels(node.get("index"))
        values = _decode_column(node.get("values"))
        if type(values) is Unsupported:
            return values
        if len(values) != len(index):
            _fail("series values and index differ in length")
        return pd.Series(values, index=index, name=_scalar_or_fail(node.get("name")))
    if tag == "dataframe":
        import pandas as pd

        index, columns = _decode_labels(node.get("index")), _decode_labels(node.get("columns"))
        data = node.get("data")
        if type(data) is not list or len(data) != len(columns):
            _fail("dataframe columns and data differ")
        decoded = [_decode_column(c) for c in data]
        for column in decoded:
            if type(column) is Unsupported:
                return column
            if len(column) != len(index):
                _fail("dataframe column and index differ in length")
        frame = pd.DataFrame({i: column for i, column in enumerate(decoded)}, index=index)
        frame.columns = columns
        return frame
    if tag == "unsupported":
        return Unsupported(node.get("type", "?"))
    _fail(f"unknown tag {str(tag)[:40]!r}")


def decode(text: str | bytes) -> Any:
    """Rebuild a value from :func:`encode`'s text; raise :class:`WireError` for anything malformed.

    Examples
    --------
    >>> decode('{"t": "ndarray", "dtype": "<i8", "shape": [2], "b64": "AQAAAAAAAAACAAAAAAAAAA=="}')
    array([1, 2])
    """
    if type(text) not in (str, bytes):
        raise WireError(f"text must be str or bytes, got {type(text).__name__}")
    if len(text) > MAX_BYTES:
        raise WireError(f"value too large: {len(text):,} bytes (limit {MAX_BYTES:,})")
    try:
        node = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise WireError(f"not JSON: {error}") from None
    return _decode(node, 0)


def to_plain(value: Any) -> Any:
    """What the grader would receive for ``value``: an encode/decode round trip.

    The learner's own notebook runs its visible checks on this too, so that a result type the
    grader rejects is reported the same way in the notebook.
    """
    return decode(encode(value))


def unsupported_part(value: Any, depth: int = 0) -> Unsupported | None:
    """The first :class:`Unsupported` inside a decoded value (lists, tuples, dict values), or None.

    Examples
    --------
    >>> unsupported_part(decode(encode([1, {"a": object()}])))
    Unsupported('object')
    >>> unsupported_part([1.0, "x"]) is None
    True
    """
    if type(value) is Unsupported:
        return value
    if depth < MAX_DEPTH and type(value) in (list, tuple):
        return next(filter(None, (unsupported_part(v, depth + 1) for v in value)), None)
    if depth < MAX_DEPTH and type(value) is dict:
        return next(filter(None, (unsupported_part(v, depth + 1) for v in value.values())), None)
    return None
