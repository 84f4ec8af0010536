"""Writes MTZ files with gemmi, and beside each the P1 HKL text it must render as.

Used two ways: tests/mtz.rs runs it at test time (with the python in NANOBRAGG_PYTHON), and
it made the small fixtures in tests/data/mtz/ that the reader's unit tests use without Python
(`python make_mtz.py tests/data/mtz --small`).

The P1 references come from gemmi's own expansion (Mtz.expand_to_p1) plus Friedel mates, not
from nanobragg's code. Values are float32, as MTZ stores them, and printed with repr() of that
float32 widened to float64, so the HKL text holds exactly the numbers the MTZ holds.
"""
import math
import sys

import gemmi
import numpy as np

CELLS = {
    "P 1": (40.0, 50.0, 60.0, 80.0, 85.0, 95.0),
    "P 21 21 21": (40.0, 50.0, 60.0, 90.0, 90.0, 90.0),
    "P 43 21 2": (45.0, 45.0, 60.0, 90.0, 90.0, 90.0),
    "P 61 2 2": (45.0, 45.0, 70.0, 90.0, 90.0, 120.0),
}


def f32(x):
    return float(np.float32(x))


def amplitude(h, k, l, salt=0):
    """Distinct, deterministic values, so a reflection sent to the wrong index shows."""
    return f32(10.0 + ((h * 7 + k * 13 + l * 17 + salt * 5) % 29) + 0.125 * ((h - 2 * k + 3 * l) % 7) + 0.001 * (h * h + k + l))


def asu_reflections(sg, dmin):
    """Every reflection of the asymmetric unit to resolution dmin, systematic absences left out."""
    cell = gemmi.UnitCell(*CELLS[sg.hm])
    asu = gemmi.ReciprocalAsu(sg)
    ops = sg.operations()
    hmax = [int(cell.a / dmin) + 1, int(cell.b / dmin) + 1, int(cell.c / dmin) + 1]
    out = []
    for h in range(-hmax[0], hmax[0] + 1):
        for k in range(-hmax[1], hmax[1] + 1):
            for l in range(-hmax[2], hmax[2] + 1):
                hkl = [h, k, l]
                if hkl == [0, 0, 0] or not asu.is_in(hkl) or ops.is_systematically_absent(hkl):
                    continue
                if cell.calculate_d(hkl) < dmin:
                    continue
                out.append(hkl)
    return cell, out


def new_mtz(sg, cell, labels_types):
    mtz = gemmi.Mtz(with_base=True)
    mtz.spacegroup = sg
    mtz.set_cell_for_all(cell)
    mtz.add_dataset("nanobragg")
    for label, kind in labels_types:
        mtz.add_column(label, kind)
    return mtz


def write_hkl(path, table):
    with open(path, "w") as f:
        for (h, k, l), v in sorted(table.items()):
            f.write(f"{h} {k} {l} {v!r}\n")


def p1_table_mean(mtz, label):
    """P1 reference for a mean-F column: gemmi's expansion plus Friedel mates; NaN skipped."""
    # a copy: expand_to_p1 changes the object it is called on
    data = np.array(mtz, copy=True)
    expanded = new_mtz(mtz.spacegroup, mtz.cell, [(c.label, c.type) for c in mtz.columns[3:]])
    expanded.set_data(data)
    expanded.expand_to_p1()
    col = expanded.column_labels().index(label)
    table = {}
    for row in np.array(expanded):
        v = row[col]
        if math.isnan(v):
            continue
        hkl = tuple(int(x) for x in row[:3])
        table[hkl] = float(v)
        table[tuple(-x for x in hkl)] = float(v)
    return expanded, table


def p1_table_anomalous(mtz, plus, minus):
    """P1 reference for an F(+)/F(-) pair: F(+) at each expanded h, F(-) at -h (F(+) where
    F(-) is missing: only centric reflections, whose -h is a symmetry mate of h)."""
    data = np.array(mtz, copy=True)
    expanded = new_mtz(mtz.spacegroup, mtz.cell, [(c.label, c.type) for c in mtz.columns[3:]])
    expanded.set_data(data)
    expanded.expand_to_p1()
    labels = expanded.column_labels()
    cp, cm = labels.index(plus), labels.index(minus)
    table = {}
    for row in np.array(expanded):
        hkl = tuple(int(x) for x in row[:3])
        fp, fm = float(row[cp]), float(row[cm])
        table[hkl] = fp
        table[tuple(-x for x in hkl)] = fp if math.isnan(fm) else fm
    return table


def p1_mtz(expanded_src, path):
    """The same reflections written by gemmi as a P1 file (its expansion, half the sphere)."""
    data = np.array(expanded_src, copy=True)
    out = new_mtz(gemmi.find_spacegroup_by_name("P 1"), expanded_src.cell, [(c.label, c.type) for c in expanded_src.columns[3:]])
    out.set_data(data)
    out.write_to_file(path)


def mean_file(outdir, name, sg_name, dmin, nan_every=0, valm=None):
    """FP (F), SIGFP (Q), FC (F): FP with every nan_every-th value missing."""
    sg = gemmi.find_spacegroup_by_name(sg_name)
    cell, refl = asu_reflections(sg, dmin)
    rows = []
    for i, (h, k, l) in enumerate(refl):
        fp = amplitude(h, k, l)
        if nan_every and i % nan_every == 3:
            fp = float("nan") if valm is None else valm
        rows.append([h, k, l, fp, f32(1.0 + 0.01 * i), amplitude(h, k, l, salt=1)])
    mtz = new_mtz(sg, cell, [("FP", "F"), ("SIGFP", "Q"), ("FC", "F")])
    mtz.set_data(np.array(rows, dtype=np.float32))
    if valm is not None:
        mtz.valm = valm
    mtz.write_to_file(f"{outdir}/{name}.mtz")
    if valm is not None:
        # the reference expansion must not see the marker as a value
        data = np.array(mtz, copy=True)
        data[data[:, 3] == np.float32(valm), 3] = np.nan
        mtz.set_data(data)
    expanded, table = p1_table_mean(mtz, "FP")
    write_hkl(f"{outdir}/{name}_p1.hkl", table)
    _, table_fc = p1_table_mean(mtz, "FC")
    write_hkl(f"{outdir}/{name}_p1_fc.hkl", table_fc)
    if valm is None:
        p1_mtz(expanded, f"{outdir}/{name}_asp1.mtz")
    absent = [hkl for hkl in [(1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3)] if sg.operations().is_systematically_absent(list(hkl))]
    with open(f"{outdir}/{name}_absent.txt", "w") as f:
        for hkl in absent:
            f.write("%d %d %d\n" % hkl)


def anomalous_file(outdir, name, sg_name, dmin):
    """F(+), SIGF(+), F(-), SIGF(-) (types G L G L); centric F(-) left missing, as CCP4
    programs write it."""
    sg = gemmi.find_spacegroup_by_name(sg_name)
    ops = sg.operations()
    cell, refl = asu_reflections(sg, dmin)
    rows = []
    for h, k, l in refl:
        fp = amplitude(h, k, l)
        fm = float("nan") if ops.is_reflection_centric([h, k, l]) else amplitude(h, k, l, salt=2)
        rows.append([h, k, l, fp, 1.0, fm, 1.0])
    mtz = new_mtz(sg, cell, [("F(+)", "G"), ("SIGF(+)", "L"), ("F(-)", "G"), ("SIGF(-)", "L")])
    mtz.set_data(np.array(rows, dtype=np.float32))
    mtz.write_to_file(f"{outdir}/{name}.mtz")
    write_hkl(f"{outdir}/{name}_p1.hkl", p1_table_anomalous(mtz, "F(+)", "F(-)"))


def main():
    outdir = sys.argv[1]
    small = "--small" in sys.argv
    dmin = 8.0 if small else 3.0
    mean_file(outdir, "p212121", "P 21 21 21", dmin, nan_every=7)
    mean_file(outdir, "p43212", "P 43 21 2", dmin)
    mean_file(outdir, "p6122", "P 61 2 2", dmin)
    mean_file(outdir, "p1", "P 1", dmin)
    mean_file(outdir, "valm", "P 21 21 21", dmin, nan_every=5, valm=-999.0)
    anomalous_file(outdir, "anom", "P 43 21 2", dmin)


if __name__ == "__main__":
    main()
