#!/usr/bin/env python3
"""Writes the demo inputs: a MOSFLM-style orientation matrix (reciprocal cell vectors times
the wavelength) for an orthorhombic 40 x 45 x 50 A crystal in a general orientation, and P1
structure factors to 2.8 A drawn from a Wilson distribution (fixed seed, so the files are
reproducible). Run from the repository root: python3 assets/make_demo.py"""
import math
import random

CELL = (40.0, 45.0, 50.0)
WAVELENGTH = 1.0  # A, folded into the matrix as MOSFLM does
DMIN = 2.8
B_FACTOR = 20.0


def rotation(ax, ay, az):
    """Rotation about x, then y, then z (degrees)."""
    cx, sx = math.cos(math.radians(ax)), math.sin(math.radians(ax))
    cy, sy = math.cos(math.radians(ay)), math.sin(math.radians(ay))
    cz, sz = math.cos(math.radians(az)), math.sin(math.radians(az))
    rx = [[1, 0, 0], [0, cx, -sx], [0, sx, cx]]
    ry = [[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]]
    rz = [[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]]
    mul = lambda a, b: [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]
    return mul(rz, mul(ry, rx))


def main():
    u = rotation(12.0, -27.0, 33.0)
    stars = [[u[r][i] / CELL[i] for r in range(3)] for i in range(3)]  # a*, b*, c* columns
    with open("assets/demo.mat", "w") as f:
        for r in range(3):
            f.write(" ".join(f"{stars[i][r] * WAVELENGTH:12.8f}" for i in range(3)) + "\n")
        f.write("       0.000       0.000       0.000\n")
        f.write(" " + " ".join(f"{c:.4f}" for c in CELL) + " 90.0000 90.0000 90.0000\n")
    rng = random.Random(20261122)
    limits = [int(c / DMIN) for c in CELL]
    with open("assets/demo.hkl", "w") as f:
        f.write("# h k l F  (synthetic Wilson amplitudes, P1, 2.8 A; see make_demo.py)\n")
        for h in range(-limits[0], limits[0] + 1):
            for k in range(-limits[1], limits[1] + 1):
                for l in range(-limits[2], limits[2] + 1):
                    s2 = (h / CELL[0]) ** 2 + (k / CELL[1]) ** 2 + (l / CELL[2]) ** 2
                    if s2 > 1 / DMIN**2:
                        continue
                    amp = math.hypot(rng.gauss(0, 1), rng.gauss(0, 1)) / math.sqrt(2)
                    f.write(f"{h} {k} {l} {300.0 * amp * math.exp(-B_FACTOR * s2 / 4):.2f}\n")


if __name__ == "__main__":
    main()
