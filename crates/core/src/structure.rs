//! Structure factors as the engines read them: a dense table of F over inclusive Miller-index
//! ranges (the readers in `nanobragg-io` fill it from HKL text, MTZ files and Fdump.bin; a
//! library caller fills it from arrays).

/// Largest dense grid (cells) a reader will allocate: 2^28 doubles are 2 GiB.
pub const MAX_GRID_CELLS: usize = 1 << 28;

/// Dense table of F over inclusive Miller-index ranges, l fastest.
#[derive(Clone, Debug, PartialEq)]
pub struct StructureFactors {
    pub h_min: i32,
    pub h_max: i32,
    pub k_min: i32,
    pub k_max: i32,
    pub l_min: i32,
    pub l_max: i32,
    pub values: Vec<f64>,
}

/// Inclusive index ranges of a grid, before anything is allocated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridRanges {
    pub h: (i32, i32),
    pub k: (i32, i32),
    pub l: (i32, i32),
}

impl GridRanges {
    /// Number of cells, or `None` when a range is empty or the grid exceeds `MAX_GRID_CELLS`.
    /// `pad` adds that many extra slots per dimension (Fdump.bin stores one).
    pub fn cells(&self, pad: i64) -> Option<usize> {
        let mut total: i64 = 1;
        for (lo, hi) in [self.h, self.k, self.l] {
            let count = i64::from(hi) - i64::from(lo) + 1;
            if count < 1 {
                return None;
            }
            total = total.checked_mul(count + pad)?;
        }
        usize::try_from(total).ok().filter(|&n| n <= MAX_GRID_CELLS)
    }

    pub fn describe(&self) -> String {
        format!(
            "h {}..{}, k {}..{}, l {}..{}",
            self.h.0, self.h.1, self.k.0, self.k.1, self.l.0, self.l.1
        )
    }

    /// The refusal message for a grid that `cells` rejected.
    pub fn too_large_message(&self, pad: i64) -> String {
        let product: i128 = [self.h, self.k, self.l]
            .iter()
            .map(|(lo, hi)| i128::from(*hi) - i128::from(*lo) + 1 + i128::from(pad))
            .product();
        format!(
            "index ranges {} need {product} grid cells, more than the limit of {MAX_GRID_CELLS}",
            self.describe()
        )
    }

    /// (h, k, l) counts of the inclusive ranges (0 for an empty range).
    pub fn counts(&self) -> (usize, usize, usize) {
        let count =
            |(lo, hi): (i32, i32)| usize::try_from(i64::from(hi) - i64::from(lo) + 1).unwrap_or(0);
        (count(self.h), count(self.k), count(self.l))
    }

    /// The grid over these ranges holding `values` (l fastest); the caller sized them by `cells(0)`.
    pub fn with_values(&self, values: Vec<f64>) -> StructureFactors {
        StructureFactors {
            h_min: self.h.0,
            h_max: self.h.1,
            k_min: self.k.0,
            k_max: self.k.1,
            l_min: self.l.0,
            l_max: self.l.1,
            values,
        }
    }
}

impl StructureFactors {
    /// The grid of a reflection list, as nanoBragg.c fills it from an HKL file: spanning the
    /// indices listed, cells not listed `default_f`, a reflection listed twice keeping its last
    /// value. HKL text (`nanobragg-io`) and arrays (the Python package) both come through here,
    /// so the same reflections make the same grid. Err: why not (none listed, or a grid larger
    /// than `MAX_GRID_CELLS`).
    pub fn from_reflections(reflections: &[([i32; 3], f64)], default_f: f64) -> Result<StructureFactors, String> {
        let (first, _) = reflections.first().ok_or("no reflections")?;
        let (mut lo, mut hi) = (*first, *first);
        for (hkl, _) in reflections {
            for d in 0..3 {
                lo[d] = lo[d].min(hkl[d]);
                hi[d] = hi[d].max(hkl[d]);
            }
        }
        let ranges = GridRanges { h: (lo[0], hi[0]), k: (lo[1], hi[1]), l: (lo[2], hi[2]) };
        let cells = ranges.cells(0).ok_or_else(|| ranges.too_large_message(0))?;
        let mut grid = ranges.with_values(vec![default_f; cells]);
        for &([h, k, l], f) in reflections {
            if let Some(i) = grid.index(h, k, l) {
                grid.values[i] = f;
            }
        }
        Ok(grid)
    }

    /// (h, k, l) counts of the inclusive ranges.
    pub fn counts(&self) -> (usize, usize, usize) {
        self.ranges().counts()
    }

    pub fn ranges(&self) -> GridRanges {
        GridRanges {
            h: (self.h_min, self.h_max),
            k: (self.k_min, self.k_max),
            l: (self.l_min, self.l_max),
        }
    }

    /// Position of (h, k, l) in `values`, or `None` outside the grid.
    pub fn index(&self, h: i32, k: i32, l: i32) -> Option<usize> {
        let offset = |v: i32, lo: i32, hi: i32| {
            (lo..=hi)
                .contains(&v)
                .then(|| (i64::from(v) - i64::from(lo)) as usize)
        };
        let (_, kc, lc) = self.counts();
        let (dh, dk, dl) = (
            offset(h, self.h_min, self.h_max)?,
            offset(k, self.k_min, self.k_max)?,
            offset(l, self.l_min, self.l_max)?,
        );
        // Checked because the fields are public: a hand-built grid may not be self-consistent.
        dh.checked_mul(kc)?
            .checked_add(dk)?
            .checked_mul(lc)?
            .checked_add(dl)
    }

    /// F at (h, k, l), or `None` outside the grid.
    pub fn get(&self, h: i32, k: i32, l: i32) -> Option<f64> {
        self.values.get(self.index(h, k, l)?).copied()
    }
}

