"""Building the tables' columns fast from numeric arrays: identifiers from digit blocks, codes
from indices into their labels, dates from day numbers, nullable integers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from .draws import _MS_PER_DAY

_PATHWAY_DIGITS = 13  # yyyymm and a 7-digit serial: PathwayID P2020090000123


def _frame(columns: dict) -> pd.DataFrame:
    return pd.DataFrame(columns, copy=False)


def _series(text: pa.Array) -> pd.Series:
    return pd.Series(text.to_pandas(), copy=False)


def _id_strings(prefix: str, numbers: np.ndarray, digits: int) -> pd.Series:
    """``prefix`` and the number zero-padded to ``digits``, as pandas text."""
    return _series(_text_array(prefix, _digits(numbers, digits)))


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    """ASCII digits of each number, zero-padded to ``width``: an (n, width) uint8 array."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if numbers.size and (numbers.min() < 0 or numbers.max() >= 10**width):
        raise ValueError(f"identifiers do not fit {width} digits: is the scale too large?")
    out = np.empty((width, numbers.size), dtype=np.uint8)
    rest = numbers.copy()
    for column in range(width - 1, -1, -1):
        out[column] = 48 + rest % 10
        rest //= 10
    return out.T


def _text_array(prefix: str, *digit_blocks: np.ndarray) -> pa.Array:
    """Fixed-width text: ``prefix`` then each block of ASCII digits, as an Arrow string array.

    Identifiers are built from digit blocks (a child record's id is its pathway's digits and
    its own sequence), which is several times faster than formatting millions of numbers.
    """
    n = digit_blocks[0].shape[0]
    head = len(prefix)
    width = head + sum(block.shape[1] for block in digit_blocks)
    chars = np.empty((n, width), dtype=np.uint8)
    chars[:, :head] = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    column = head
    for block in digit_blocks:
        chars[:, column:column + block.shape[1]] = block
        column += block.shape[1]
    # large_string: what pandas' Arrow-backed str dtype holds, so no conversion follows
    offsets = np.arange(n + 1, dtype=np.int64) * width
    return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(chars)])


def _label_strings(index: np.ndarray, labels: tuple) -> pd.Series:
    """Codes from their indices into ``labels``; index -1 or a None label is missing."""
    index = np.asarray(index, dtype=np.int32)
    missing_label = np.array([label is None for label in labels] + [True])
    missing = missing_label[np.where(index < 0, len(labels), index)]
    dictionary = pa.array(["" if label is None else str(label) for label in labels], type=pa.string())
    indices = pa.array(np.where(missing, 0, index), mask=missing)
    return _series(pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.large_string()))


def _dates(days: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
    """Dates at midnight from day numbers since 1970-01-01, NaT where ``missing``."""
    values = (np.asarray(days, dtype=np.int64) * _MS_PER_DAY).view("datetime64[ms]")
    if missing is not None:
        values[missing] = np.datetime64("NaT")
    return pd.Series(values, dtype="datetime64[ms]", copy=False)


def _nullable_integers(values: np.ndarray) -> pd.Series:
    """Int64 with negative values as missing (every integer in the dataset is >= 0)."""
    values = np.asarray(values, dtype=np.int64)
    return pd.Series(pd.arrays.IntegerArray(values, values < 0), copy=False)
