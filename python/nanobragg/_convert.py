"""Conversions of what Python hands the simulator into the arrays the extension reads.

Kept in Python because they are about Python's objects (numpy dtypes, gemmi, reciprocalspaceship,
pandas): the extension calls them and takes their numpy arrays without a copy.
"""

import numpy as np

from ._nanobragg import Error


def _shown(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def matrix3(name, value):
    """A 3x3 float64 array of `value`, or nanobragg.Error naming the keyword."""
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise Error(f"{name}: expects a 3x3 matrix of numbers, got {_shown(value)}") from None
    if a.shape != (3, 3):
        raise Error(f"{name}: expects a 3x3 matrix, got an array of shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise Error(f"{name}: the matrix holds numbers that are not finite")
    return np.ascontiguousarray(a)


def mask(value):
    """A (slow, fast) uint16 array: nonzero pixels are rendered, 0 pixels are not."""
    a = np.asarray(value)
    if a.ndim != 2:
        raise Error(f"mask: expects a 2-D array (slow, fast), got an array of shape {a.shape}")
    return np.ascontiguousarray(a != 0, dtype=np.uint16)


def _amplitude_column(names, types, requested, what):
    if requested is not None:
        if requested not in names:
            raise Error(f"column: {what} has no column {requested!r} (columns: {', '.join(names)})")
        return requested
    for name, kind in zip(names, types):
        if kind == "F":
            return name
    raise Error(f"hkl: {what} has no amplitude column (of type F); name one with column=")


def _gemmi_mtz(mtz, column):
    names = [c.label for c in mtz.columns]
    types = [c.type for c in mtz.columns]
    label = _amplitude_column(names, types, column, "the gemmi.Mtz")
    data = np.asarray(mtz)
    hkl = data[:, :3]
    f = data[:, names.index(label)]
    cell = mtz.cell
    return hkl, f, (cell.a, cell.b, cell.c, cell.alpha, cell.beta, cell.gamma), getattr(mtz.spacegroup, "hm", None)


def _dataframe(table, column):
    frame = table.reset_index() if any(n in ("H", "K", "L", "h", "k", "l") for n in (table.index.names or [])) else table
    index = [c for c in ("H", "K", "L") if c in frame.columns] or [c for c in ("h", "k", "l") if c in frame.columns]
    if len(index) != 3:
        raise Error("hkl: the table has no H, K, L columns (or index)")
    names = [str(c) for c in frame.columns]
    types = []
    for c in frame.columns:
        dtype = frame[c].dtype
        # reciprocalspaceship's MTZ dtypes carry the MTZ type letter
        types.append(getattr(dtype, "mtztype", None))
    if column is None and "F" in names:
        column = "F"
    label = _amplitude_column(names, types, column, "the table")
    cell = getattr(table, "cell", None)
    cell = None if cell is None else tuple(float(x) for x in cell.parameters)
    spacegroup = getattr(table, "spacegroup", None)
    return frame[index].to_numpy(), frame[label].to_numpy(), cell, getattr(spacegroup, "hm", None)


def reflections(hkl, f, column):
    """(hkl int32 (n, 3), F float64 (n,), cell or None) from the structure factors given:
    an (n, 3) array of Miller indices with F, an (n,) array; or a table (a gemmi.Mtz, a
    reciprocalspaceship DataSet or a pandas DataFrame with H, K, L columns or index, a dict
    of columns) with its amplitude column (`column`, else the first of type F, else "F").
    A table is taken as listed: reflections it does not list get default_F."""
    cell = None
    group = None
    if f is not None:
        if column is not None:
            raise Error("column: names a column of a table; with F= the amplitudes are given")
        indices, amplitudes = hkl, f
    elif hasattr(hkl, "columns") and hasattr(hkl, "spacegroup") and hasattr(hkl, "cell") and hasattr(hkl, "nreflections"):
        indices, amplitudes, cell, group = _gemmi_mtz(hkl, column)
    elif hasattr(hkl, "columns") and hasattr(hkl, "index"):
        indices, amplitudes, cell, group = _dataframe(hkl, column)
    elif isinstance(hkl, dict):
        keys = [k for k in ("H", "K", "L") if k in hkl] or [k for k in ("h", "k", "l") if k in hkl]
        if len(keys) != 3:
            raise Error("hkl: a dict of columns needs H, K and L")
        label = column if column is not None else "F"
        if label not in hkl:
            raise Error(f"column: the dict has no column {label!r}")
        indices = np.stack([np.asarray(hkl[k]) for k in keys], axis=1)
        amplitudes = hkl[label]
    else:
        raise Error(
            f"hkl: expects a file path, an (n, 3) array of Miller indices with F=, or a table "
            f"(gemmi.Mtz, reciprocalspaceship DataSet, pandas DataFrame, dict), got {_shown(hkl)}"
        )
    try:
        indices = np.asarray(indices)
        amplitudes = np.asarray(amplitudes, dtype=np.float64)
    except (TypeError, ValueError):
        raise Error("hkl: the Miller indices and amplitudes must be numbers") from None
    if indices.ndim != 2 or indices.shape[1] != 3:
        raise Error(f"hkl: expects Miller indices of shape (n, 3), got {indices.shape}")
    if amplitudes.shape != (indices.shape[0],):
        raise Error(f"F: expects {indices.shape[0]} amplitudes (one per Miller index), got shape {amplitudes.shape}")
    if indices.shape[0] == 0:
        raise Error("hkl: no reflections")
    if not np.issubdtype(indices.dtype, np.integer):
        as_float = indices.astype(np.float64)
        if not np.all(np.isfinite(as_float)) or np.any(np.abs(as_float - np.round(as_float)) > 1e-6):
            raise Error("hkl: Miller indices must be whole numbers")
        indices = np.round(as_float)
    if np.any(np.abs(indices) > 2**31 - 1):
        raise Error("hkl: a Miller index is out of range")
    bad = ~np.isfinite(amplitudes)
    if np.any(bad):
        raise Error(f"F: {int(bad.sum())} amplitude(s) are not finite (first at row {int(np.argmax(bad))}); drop or fill them")
    if group is not None and group.replace(" ", "") not in ("P1",):
        import warnings

        from ._nanobragg import NanobraggWarning

        warnings.warn(
            f"hkl: the table's reflections ({group}) are taken as listed, not expanded to P1; "
            "expand them first (reciprocalspaceship: ds.expand_to_p1().expand_anomalous()) or give the MTZ file's path",
            NanobraggWarning,
            stacklevel=3,
        )
    return np.ascontiguousarray(indices, dtype=np.int32), np.ascontiguousarray(amplitudes), cell
