//! Structure factors from MTZ reflection files (CCP4's binary format).
//!
//! No maintained Rust crate reads MTZ, so this is a reader of our own, written from the CCP4
//! format description: bytes 0–3 `MTZ `, bytes 4–7 the word (4-byte, 1-based) where the text
//! header starts (−1: the 64-bit byte-word offset at bytes 12–19 instead), bytes 8–11 the machine
//! stamp (high nibble of byte 8: 1 big-endian reals, 4 little-endian; byte 9 the same for
//! integers), the reflection table of 32-bit reals from byte 80, one row per reflection, and
//! then 80-byte text records (`VERS`, `TITLE`, `NCOL`, `CELL`, `SYMINF`, `SYMM`, `VALM`,
//! `COLUMN`, `DCELL`, …, `END`).
//!
//! Merged MTZ files hold one asymmetric unit; the engines want every (h, k, l). The amplitude
//! column is expanded with the rotation parts of the file's own symmetry operators (an
//! amplitude does not depend on the translations, which only shift phases) and, for a plain
//! F column, Friedel's law. An anomalous F(+)/F(−) pair (type G) is expanded as a pair: F(+)
//! to h·R, F(−) to −h·R, never averaged.

use super::hkl::{GridRanges, StructureFactors};
use crate::error::{Error, Result};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Largest MTZ file read (1 GiB: some 20 million reflections of a dozen columns).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Most header bytes read to find the cell before the file itself is read: the main records
/// of any real file (history and batch headers come after END) take well under this.
const MAX_HEADER_BYTES: u64 = 16 << 20;

/// Bytes before the reflection table.
const TABLE_START: u64 = 80;
const RECORD: usize = 80;

/// True when the file starts with the MTZ magic (whatever its name).
pub fn looks_like_mtz(bytes: &[u8]) -> bool {
    bytes.starts_with(b"MTZ ")
}

/// A name ending in `.mtz` (any case): such a file without the magic is refused as "not an
/// MTZ file" instead of being read as HKL text.
pub fn named_like_mtz(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("mtz"))
}

/// One column of the reflection table.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub label: String,
    /// the CCP4 column type: F amplitude, G anomalous amplitude F(+)/F(−), Q σ, H index, …
    pub kind: char,
    pub dataset: i32,
}

/// The main header records this reader uses.
#[derive(Clone, Debug)]
pub struct Header {
    pub columns: Vec<Column>,
    pub reflections: usize,
    /// a, b, c (Å), α, β, γ (degrees) from CELL
    pub cell: Option<[f64; 6]>,
    /// DCELL per dataset id
    pub dataset_cells: Vec<(i32, [f64; 6])>,
    /// the value marking a missing number besides NaN (VALM), when it is not NaN
    pub missing: Option<f32>,
    /// rotation parts of the SYMM operators, rows x', y', z' over columns x, y, z
    pub rotations: Vec<[[i32; 3]; 3]>,
    pub space_group: Option<String>,
}

/// Which amplitudes the run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Amplitudes {
    /// a type F column (Friedel mates take the same value)
    Mean(usize),
    /// type G columns: F(+) for h, F(−) for −h
    Pair { plus: usize, minus: usize },
}

/// What an MTZ `-hkl` file gave.
pub struct MtzInput {
    pub grid: StructureFactors,
    /// reflections with a value in the chosen column(s) (an F(+)/F(−) pair counts twice)
    pub reflections: usize,
    /// distinct (h, k, l) after expansion to P1
    pub expanded: usize,
    pub amplitudes: Amplitudes,
    pub header: Header,
}

impl MtzInput {
    /// The chosen column(s) by label, for the report: `FP` or `F(+)/F(-)`.
    pub fn column_names(&self) -> String {
        let label = |i: usize| self.header.columns[i].label.clone();
        match self.amplitudes {
            Amplitudes::Mean(i) => label(i),
            Amplitudes::Pair { plus, minus } => format!("{}/{}", label(plus), label(minus)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    /// From a machine-stamp nibble: 1 is big-endian, 4 (and anything else, as CCP4's own
    /// library assumes the native order there) little-endian.
    fn from_nibble(byte: u8) -> Endian {
        if byte >> 4 == 1 { Endian::Big } else { Endian::Little }
    }
    fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }
    fn i64(self, b: [u8; 8]) -> i64 {
        match self {
            Endian::Little => i64::from_le_bytes(b),
            Endian::Big => i64::from_be_bytes(b),
        }
    }
}

/// Where the text header starts (bytes) and the byte order of the table's reals, from the
/// first 20 bytes.
fn layout(path: &Path, first: &[u8]) -> Result<(u64, Endian)> {
    if !looks_like_mtz(first) {
        return Err(Error::parse(path, "byte 0", "not an MTZ file (it does not start with `MTZ `)"));
    }
    if first.len() < 20 {
        return Err(Error::parse(path, "whole file", format!("truncated: {} bytes, too short for an MTZ file", first.len())));
    }
    let ints = Endian::from_nibble(first[9]);
    let reals = Endian::from_nibble(first[8]);
    let word = ints.u32(first[4..8].try_into().unwrap_or_default()) as i32;
    let header_at = if word == -1 {
        // files too large for a 32-bit word offset keep a 64-bit one after the stamp
        let w = ints.i64(first[12..20].try_into().unwrap_or_default());
        u64::try_from(w).ok().and_then(|w| w.checked_sub(1)).and_then(|w| w.checked_mul(4))
    } else {
        u64::try_from(word).ok().and_then(|w| w.checked_sub(1)).map(|w| w * 4)
    };
    match header_at {
        Some(at) if at >= TABLE_START => Ok((at, reals)),
        _ => Err(Error::parse(path, "bytes 4-8", format!("header offset {word} lies inside the first 80 bytes: the file is damaged"))),
    }
}

/// Reads just the header (a seek past the reflection table), for the cell: the lattice is
/// built before the structure factors are read.
pub fn read_header(path: &Path) -> Result<Header> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut first = Vec::new();
    (&mut file).take(20).read_to_end(&mut first).map_err(|e| Error::io(path, e))?;
    let (header_at, _) = layout(path, &first)?;
    let length = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if header_at >= length {
        return Err(truncated_before_header(path, header_at, length));
    }
    file.seek(SeekFrom::Start(header_at)).map_err(|e| Error::io(path, e))?;
    let mut text = Vec::new();
    file.take(MAX_HEADER_BYTES).read_to_end(&mut text).map_err(|e| Error::io(path, e))?;
    parse_header(path, &text, header_at)
}

fn truncated_before_header(path: &Path, header_at: u64, length: u64) -> Error {
    Error::parse(path, "whole file", format!("truncated: the header should start at byte {header_at} but the file has {length} bytes"))
}

/// The cell the run takes from the file: the DCELL of the chosen column's dataset when it
/// has one, else CELL; `None` when the file gives neither.
pub fn file_cell(header: &Header, amplitudes: Amplitudes) -> Option<[f64; 6]> {
    let column = match amplitudes {
        Amplitudes::Mean(i) | Amplitudes::Pair { plus: i, .. } => &header.columns[i],
    };
    let usable = |c: &[f64; 6]| c.iter().all(|x| x.is_finite() && *x > 0.0);
    header
        .dataset_cells
        .iter()
        .find(|(id, c)| *id == column.dataset && usable(c))
        .map(|(_, c)| *c)
        .or(header.cell.filter(usable))
}

fn parse_header(path: &Path, text: &[u8], header_at: u64) -> Result<Header> {
    let mut header = Header {
        columns: Vec::new(),
        reflections: 0,
        cell: None,
        dataset_cells: Vec::new(),
        missing: None,
        rotations: Vec::new(),
        space_group: None,
    };
    let mut ncol = None;
    let mut ended = false;
    for (n, chunk) in text.chunks(RECORD).enumerate() {
        if chunk.len() < RECORD {
            // a record cut short: the file ends inside its header
            break;
        }
        let at = header_at + (n * RECORD) as u64;
        let location = || format!("header record at byte {at}");
        let record = String::from_utf8_lossy(chunk);
        let mut words = record.split_whitespace();
        let keyword = words.next().unwrap_or("").to_ascii_uppercase();
        let rest: Vec<&str> = words.collect();
        let bad = |what: &str| Error::parse(path, location(), format!("{what}: `{}`", record.trim_end()));
        match keyword.as_str() {
            "NCOL" => {
                let count = |i: usize| rest.get(i).and_then(|w| w.parse::<usize>().ok());
                ncol = Some(count(0).ok_or_else(|| bad("NCOL without a column count"))?);
                header.reflections = count(1).ok_or_else(|| bad("NCOL without a reflection count"))?;
            }
            "CELL" => header.cell = Some(six_numbers(&rest).ok_or_else(|| bad("CELL needs six numbers"))?),
            "DCELL" => {
                let id = rest.first().and_then(|w| w.parse::<i32>().ok()).ok_or_else(|| bad("DCELL without a dataset id"))?;
                let cell = six_numbers(&rest[1..]).ok_or_else(|| bad("DCELL needs six numbers"))?;
                header.dataset_cells.push((id, cell));
            }
            "VALM" => {
                let value = rest.first().ok_or_else(|| bad("VALM without a value"))?;
                header.missing = if value.eq_ignore_ascii_case("NAN") {
                    None
                } else {
                    Some(value.parse::<f32>().map_err(|_| bad("VALM is neither NAN nor a number"))?).filter(|v| !v.is_nan())
                };
            }
            "SYMINF" => {
                // SYMINF nsym nsymp lattice number 'name' PG…: the name is the quoted part
                let (open, close) = (record.find('\''), record.rfind('\''));
                if let (Some(o), Some(c)) = (open, close)
                    && c > o
                {
                    header.space_group = Some(record[o + 1..c].trim().to_string());
                }
            }
            "SYMM" => {
                let ops = record.trim_end().splitn(2, char::is_whitespace).nth(1).unwrap_or("");
                // old writers put several operators on one record, separated by `*`
                for op in ops.split('*').filter(|s| !s.trim().is_empty()) {
                    header.rotations.push(rotation_part(op).map_err(|why| bad(&format!("symmetry operator {why}")))?);
                }
            }
            "COLUMN" => {
                let label = rest.first().ok_or_else(|| bad("COLUMN without a label"))?;
                let kind = rest.get(1).and_then(|t| t.chars().next()).ok_or_else(|| bad("COLUMN without a type"))?;
                // the dataset id is the last field (absent in very old files: dataset 0)
                let dataset = if rest.len() >= 5 { rest[rest.len() - 1].parse::<i32>().unwrap_or(0) } else { 0 };
                header.columns.push(Column { label: label.to_string(), kind: kind.to_ascii_uppercase(), dataset });
            }
            "END" => {
                ended = true;
                break;
            }
            _ => {}
        }
    }
    if !ended {
        return Err(Error::parse(path, "header", "truncated: the header has no END record"));
    }
    let ncol = ncol.ok_or_else(|| Error::parse(path, "header", "no NCOL record (column and reflection counts)"))?;
    if ncol != header.columns.len() {
        return Err(Error::parse(
            path,
            "header",
            format!("NCOL says {ncol} columns but {} COLUMN records follow", header.columns.len()),
        ));
    }
    Ok(header)
}

fn six_numbers(words: &[&str]) -> Option<[f64; 6]> {
    let numbers: Vec<f64> = words.iter().take(6).map(|w| w.parse::<f64>().ok()).collect::<Option<_>>()?;
    numbers.try_into().ok()
}

/// The rotation part of an operator written as `-X+1/2,Y,-Z` (case and spaces free; terms
/// such as `X-Y`, `2*X` or `0.5+X` accepted). The translation is checked to be a number and
/// then dropped.
fn rotation_part(op: &str) -> std::result::Result<[[i32; 3]; 3], String> {
    let shown = op.trim();
    let parts: Vec<&str> = shown.split(',').collect();
    if parts.len() != 3 {
        return Err(format!("`{shown}` does not have three comma-separated parts"));
    }
    let mut rotation = [[0i32; 3]; 3];
    for (row, part) in rotation.iter_mut().zip(&parts) {
        let text: String = part.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
        if text.is_empty() {
            return Err(format!("`{shown}` has an empty part"));
        }
        // split into signed terms: `-X+1/2` → `-X`, `+1/2`
        let mut terms = Vec::new();
        let mut start = 0;
        for (i, c) in text.char_indices() {
            if (c == '+' || c == '-') && i > start && !text[..i].ends_with(['E', '*', '/']) {
                terms.push(&text[start..i]);
                start = i;
            }
        }
        terms.push(&text[start..]);
        for term in terms {
            let (sign, body) = match term.as_bytes().first() {
                Some(b'-') => (-1, &term[1..]),
                Some(b'+') => (1, &term[1..]),
                _ => (1, term),
            };
            let axis = body.chars().last().and_then(|c| "XYZ".find(c));
            match axis {
                Some(axis) => {
                    let factor = body[..body.len() - 1].trim_end_matches('*');
                    let factor = if factor.is_empty() { 1 } else { factor.parse::<i32>().map_err(|_| format!("`{shown}`: term `{term}` is not understood"))? };
                    row[axis] += sign * factor;
                }
                None => {
                    let number = match body.split_once('/') {
                        Some((n, d)) => n.parse::<f64>().ok().zip(d.parse::<f64>().ok()).map(|(n, d)| n / d),
                        None => body.parse::<f64>().ok(),
                    };
                    if !number.is_some_and(f64::is_finite) {
                        return Err(format!("`{shown}`: term `{term}` is not understood"));
                    }
                }
            }
        }
    }
    let r = rotation;
    let det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1]) - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
        + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
    if det.abs() != 1 {
        return Err(format!("`{shown}` is not a rotation (determinant {det})"));
    }
    Ok(rotation)
}

/// A short name of a column type, for messages.
fn kind_name(kind: char) -> &'static str {
    match kind {
        'H' => "Miller index",
        'J' => "intensity",
        'F' => "amplitude",
        'D' => "anomalous difference",
        'Q' => "standard deviation",
        'G' => "anomalous amplitude F(+)/F(-)",
        'L' => "standard deviation of F(+)/F(-)",
        'K' => "anomalous intensity I(+)/I(-)",
        'M' => "standard deviation of I(+)/I(-)",
        'E' => "normalised amplitude",
        'P' => "phase",
        'W' => "weight",
        'A' => "phase probability coefficient",
        'B' => "batch number",
        'Y' => "M/ISYM",
        'I' => "integer",
        'R' => "real",
        _ => "unknown type",
    }
}

/// The partner of G column `i`: the G column whose label swaps `+` for `-` (`F(+)` ↔ `F(-)`,
/// `FPLUS` ↔ `FMINUS`), else its neighbour among the dataset's G columns, which CCP4 programs
/// write as F(+) then F(−). Returns (plus, minus).
fn anomalous_pair(header: &Header, i: usize) -> Option<(usize, usize)> {
    let cols = &header.columns;
    let label = &cols[i].label;
    let swaps = [("(+)", "(-)"), ("+", "-"), ("PLUS", "MINUS"), ("plus", "minus")];
    for (plus, minus) in swaps {
        for (from, to, is_plus) in [(plus, minus, true), (minus, plus, false)] {
            if label.contains(from) {
                let other = label.replacen(from, to, 1);
                if let Some(j) = cols.iter().position(|c| c.kind == 'G' && c.label == other) {
                    return Some(if is_plus { (i, j) } else { (j, i) });
                }
            }
        }
    }
    let gs: Vec<usize> = (0..cols.len()).filter(|&j| cols[j].kind == 'G' && cols[j].dataset == cols[i].dataset).collect();
    let at = gs.iter().position(|&j| j == i)?;
    let (plus, minus) = (gs.get(at - at % 2)?, gs.get(at - at % 2 + 1)?);
    Some((*plus, *minus))
}

/// The amplitudes `-mtz_column` names, or by default the first type F column (failing that,
/// the first F(+)/F(−) pair).
pub fn choose_amplitudes(path: &Path, header: &Header, requested: Option<&str>) -> Result<Amplitudes> {
    let cols = &header.columns;
    let listing = || cols.iter().map(|c| format!("{} ({})", c.label, c.kind)).collect::<Vec<_>>().join(", ");
    let index = match requested {
        Some(name) => cols.iter().position(|c| c.label == name).ok_or_else(|| {
            Error::parse(path, "-mtz_column", format!("no column `{name}`; the file has {}", listing()))
        })?,
        None => cols.iter().position(|c| c.kind == 'F').or_else(|| cols.iter().position(|c| c.kind == 'G')).ok_or_else(|| {
            Error::parse(path, "columns", format!("no amplitude column (type F, or G for F(+)/F(-)); the file has {}", listing()))
        })?,
    };
    let column = &cols[index];
    match column.kind {
        'F' => Ok(Amplitudes::Mean(index)),
        'G' => {
            let (plus, minus) = anomalous_pair(header, index).ok_or_else(|| {
                Error::parse(path, "-mtz_column", format!("column `{}` (F(+) or F(-)) has no partner column of type G", column.label))
            })?;
            Ok(Amplitudes::Pair { plus, minus })
        }
        other => Err(Error::parse(
            path,
            "-mtz_column",
            format!(
                "column `{}` is of type {other} ({}), not an amplitude (type F, or G for F(+)/F(-))",
                column.label,
                kind_name(other)
            ),
        )),
    }
}

/// Reads an MTZ file into a P1 grid spanning the expanded indices; cells no reflection reaches
/// get `default_f`.
pub fn read_mtz(path: &Path, column: Option<&str>, default_f: f64) -> Result<MtzInput> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    // the magic first, so that a device (a link named x.mtz to /dev/zero) is refused at once
    (&mut file).take(20).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    layout(path, &bytes)?;
    file.take(MAX_FILE_BYTES.saturating_add(1) - 20).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let msg = format!("larger than {}, the limit for this kind of file", nanobragg_core::budget::human_bytes(MAX_FILE_BYTES as f64));
        return Err(Error::parse(path, "file size", msg));
    }
    parse_mtz(path, &bytes, column, default_f)
}

/// Whether `-hkl` names an MTZ file: one named `*.mtz`, or a regular file starting with the
/// magic. Other special files (a pipe) are not probed, since reading their first bytes would
/// take them from the reader that follows.
pub fn is_mtz(path: &Path) -> Result<bool> {
    if named_like_mtz(path) {
        return Ok(true);
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        _ => return Ok(false),
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut first = Vec::new();
    file.take(4).read_to_end(&mut first).map_err(|e| Error::io(path, e))?;
    Ok(looks_like_mtz(&first))
}

/// `read_mtz` on bytes already in memory; `path` only names them in messages.
pub fn parse_mtz(path: &Path, bytes: &[u8], column: Option<&str>, default_f: f64) -> Result<MtzInput> {
    let (header_at, reals) = layout(path, &bytes[..bytes.len().min(20)])?;
    let length = bytes.len() as u64;
    if header_at >= length {
        return Err(truncated_before_header(path, header_at, length));
    }
    let header = parse_header(path, &bytes[header_at as usize..], header_at)?;
    refuse_unmerged(path, &header)?;
    let amplitudes = choose_amplitudes(path, &header, column)?;
    let ncol = header.columns.len();
    let table_bytes = (ncol as u64).checked_mul(header.reflections as u64).and_then(|n| n.checked_mul(4));
    if table_bytes.is_none_or(|n| TABLE_START + n > header_at) {
        return Err(Error::parse(
            path,
            "header",
            format!(
                "NCOL says {} reflections of {ncol} columns, more than the {} bytes before the header hold: the file is damaged",
                header.reflections,
                header_at - TABLE_START
            ),
        ));
    }
    let hkl_columns: Vec<usize> = (0..ncol).filter(|&i| header.columns[i].kind == 'H').take(3).collect();
    let [hc, kc, lc] = hkl_columns[..] else {
        return Err(Error::parse(path, "columns", "fewer than three Miller-index columns (type H)"));
    };
    let value = |row: usize, col: usize| {
        let at = TABLE_START as usize + 4 * (row * ncol + col);
        let word = reals.u32(bytes[at..at + 4].try_into().unwrap_or_default());
        f32::from_bits(word)
    };
    let missing = |v: f32| v.is_nan() || header.missing == Some(v);
    let mut listed: Vec<([i32; 3], f64)> = Vec::new();
    for row in 0..header.reflections {
        let mut hkl = [0i32; 3];
        for (slot, (c, name)) in hkl.iter_mut().zip([(hc, 'h'), (kc, 'k'), (lc, 'l')]) {
            let v = value(row, c);
            if !(v.is_finite() && v == v.round() && v.abs() < 1e7) {
                return Err(Error::parse(path, format!("reflection {}", row + 1), format!("{name} = {v} is not a Miller index")));
            }
            *slot = v as i32;
        }
        let row_hkl = hkl;
        let mut take = |hkl: [i32; 3], col: usize| -> Result<()> {
            let f = value(row, col);
            if missing(f) {
                return Ok(());
            }
            // NaN marks a missing value (above); an infinite one is no amplitude, and would
            // render a non-finite image and be written into the structure-factor cache
            if !f.is_finite() {
                let label = &header.columns[col].label;
                return Err(Error::parse(path, format!("reflection {} (h k l = {} {} {})", row + 1, row_hkl[0], row_hkl[1], row_hkl[2]), format!("column `{label}` holds {f}, which is no finite amplitude")));
            }
            listed.push((hkl, f64::from(f)));
            Ok(())
        };
        match amplitudes {
            Amplitudes::Mean(c) => take(hkl, c)?,
            Amplitudes::Pair { plus, minus } => {
                take(hkl, plus)?;
                take(hkl.map(|i| -i), minus)?;
            }
        }
    }
    let friedel = matches!(amplitudes, Amplitudes::Mean(_));
    let (grid, expanded) = expand(path, &listed, &header.rotations, friedel, default_f)?;
    Ok(MtzInput { grid, reflections: listed.len(), expanded, amplitudes, header })
}

/// An unmerged file (CCP4 marks one by its M/ISYM column, type Y, and its BATCH column, type
/// B) lists each observation in the setting it was measured in, several per reflection; read as
/// merged, the last observation of each index would silently win and the symmetry expansion
/// would mix settings. Merging is a data-processing step (aimless, …), not this reader's.
fn refuse_unmerged(path: &Path, header: &Header) -> Result<()> {
    match header.columns.iter().find(|c| c.kind == 'Y' || c.kind == 'B') {
        Some(c) => Err(Error::parse(
            path,
            "columns",
            format!(
                "an unmerged MTZ (column `{}` of type {}, {}): nanobragg reads merged amplitudes; merge the data first (e.g. aimless, then ctruncate for amplitudes)",
                c.label,
                c.kind,
                kind_name(c.kind)
            ),
        )),
        None => Ok(()),
    }
}

/// h·R: the index a reflection moves to under the operator with rotation R (row vector times R).
fn apply(hkl: [i32; 3], r: &[[i32; 3]; 3]) -> [i32; 3] {
    std::array::from_fn(|j| hkl[0] * r[0][j] + hkl[1] * r[1][j] + hkl[2] * r[2][j])
}

/// The P1 grid of the listed reflections and their symmetry (and, with `friedel`, Friedel)
/// mates. A listed index keeps its own value (the last one listed, as the HKL reader does);
/// a mate fills only an index the file does not list, the first mate to reach it winning, so
/// a P1 file with F(h) ≠ F(−h) in one column renders as listed. Returns the grid and the
/// number of indices it holds a value for.
fn expand(path: &Path, listed: &[([i32; 3], f64)], rotations: &[[[i32; 3]; 3]], friedel: bool, default_f: f64) -> Result<(StructureFactors, usize)> {
    const IDENTITY: [[i32; 3]; 3] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
    let rotations: &[[[i32; 3]; 3]] = if rotations.is_empty() { &[IDENTITY] } else { rotations };
    let mates = |hkl: [i32; 3]| {
        rotations.iter().flat_map(move |r| {
            let m = apply(hkl, r);
            let negated = m.map(|i| -i);
            std::iter::once(m).chain(friedel.then_some(negated))
        })
    };
    let Some(&(first, _)) = listed.first() else {
        return Err(Error::parse(path, "whole file", "no reflections with a value in the chosen column"));
    };
    let (mut lo, mut hi) = (first, first);
    for &(hkl, _) in listed {
        for m in mates(hkl) {
            for d in 0..3 {
                lo[d] = lo[d].min(m[d]);
                hi[d] = hi[d].max(m[d]);
            }
        }
    }
    let ranges = GridRanges { h: (lo[0], hi[0]), k: (lo[1], hi[1]), l: (lo[2], hi[2]) };
    let cells = ranges.cells(0).ok_or_else(|| Error::parse(path, "whole file", ranges.too_large_message(0)))?;
    let mut grid = ranges.with_values(vec![default_f; cells]);
    // 0: no value yet, 1: a mate's value, 2: listed in the file
    let mut state = vec![0u8; cells];
    for &(hkl, f) in listed {
        if let Some(i) = grid.index(hkl[0], hkl[1], hkl[2]) {
            grid.values[i] = f;
            state[i] = 2;
        }
    }
    for &(hkl, f) in listed {
        for m in mates(hkl) {
            if let Some(i) = grid.index(m[0], m[1], m[2])
                && state[i] == 0
            {
                grid.values[i] = f;
                state[i] = 1;
            }
        }
    }
    let expanded = state.iter().filter(|&&s| s != 0).count();
    Ok((grid, expanded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hkl::read_hkl;
    use std::path::PathBuf;

    /// Fixtures written by gemmi (tests/data/make_mtz.py --small), with the P1 HKL text each
    /// must expand to (gemmi's own expansion plus Friedel mates).
    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/mtz").join(name)
    }

    /// Unlisted cells get this, so that an index the expansion wrongly fills (or misses) shows.
    const UNSET: f64 = -1.0;

    fn expanded(name: &str, column: Option<&str>) -> MtzInput {
        read_mtz(&fixture(name), column, UNSET).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn reference(name: &str) -> StructureFactors {
        read_hkl(&fixture(name), UNSET).unwrap().0
    }

    fn error_text(bytes: &[u8], column: Option<&str>) -> String {
        let err = parse_mtz(Path::new("x.mtz"), bytes, column, 0.0).err().expect("an error");
        let text = err.to_string();
        assert!(text.contains("x.mtz"), "{text}");
        text
    }

    #[test]
    fn screw_axis_groups_expand_to_the_p1_reference() {
        for (mtz, hkl) in [("p212121.mtz", "p212121_p1.hkl"), ("p6122.mtz", "p6122_p1.hkl"), ("p212121_asp1.mtz", "p212121_p1.hkl")] {
            let input = expanded(mtz, None);
            let want = reference(hkl);
            assert_eq!(input.grid, want, "{mtz}");
            assert_eq!(input.column_names(), "FP");
            let listed = want.values.iter().filter(|&&v| v != UNSET).count();
            assert_eq!(input.expanded, listed, "{mtz}");
        }
        // the expansion really used the operators: far more P1 indices than rows in the file
        let input = expanded("p6122.mtz", None);
        assert_eq!(input.header.rotations.len(), 12);
        assert!(input.expanded > 10 * input.reflections, "{} from {}", input.expanded, input.reflections);
    }

    #[test]
    fn systematic_absences_are_not_invented() {
        for name in ["p212121", "p6122"] {
            let grid = expanded(&format!("{name}.mtz"), None).grid;
            let absent = std::fs::read_to_string(fixture(&format!("{name}_absent.txt"))).unwrap();
            let mut checked = 0;
            for line in absent.lines() {
                let hkl: Vec<i32> = line.split_whitespace().map(|w| w.parse().unwrap()).collect();
                for sign in [1, -1] {
                    assert_eq!(grid.get(sign * hkl[0], sign * hkl[1], sign * hkl[2]), Some(UNSET), "{name} {line}");
                    checked += 1;
                }
            }
            assert!(checked >= 2, "{name}");
        }
        // present along the screw axis: l = 4 in P21 21 21
        assert!(expanded("p212121.mtz", None).grid.get(0, 0, 4).unwrap() > 0.0);
    }

    #[test]
    fn missing_values_nan_and_valm_are_skipped() {
        // p212121 stores NaN for every 7th FP, valm.mtz stores -999 with VALM -999
        let input = expanded("valm.mtz", None);
        assert_eq!(input.header.missing, Some(-999.0));
        assert_eq!(input.grid, reference("valm_p1.hkl"));
        assert!(input.grid.values.iter().all(|&v| v != -999.0));
        let nan = expanded("p212121.mtz", None);
        assert!(nan.reflections < nan.header.reflections, "{} of {}", nan.reflections, nan.header.reflections);
    }

    #[test]
    fn chosen_column_is_read() {
        let input = expanded("p212121.mtz", Some("FC"));
        assert_eq!(input.column_names(), "FC");
        assert_eq!(input.grid, reference("p212121_p1_fc.hkl"));
        assert_ne!(input.grid, expanded("p212121.mtz", None).grid);
    }

    #[test]
    fn anomalous_pairs_stay_pairs() {
        let want = reference("anom_p1.hkl");
        for column in [None, Some("F(+)"), Some("F(-)")] {
            let input = expanded("anom.mtz", column);
            assert_eq!(input.column_names(), "F(+)/F(-)", "{column:?}");
            assert_eq!(input.grid, want, "{column:?}");
        }
        // Bijvoet mates differ: F(h) ≠ F(−h) for acentric reflections
        let grid = expanded("anom.mtz", None).grid;
        let (hc, kc, lc) = grid.counts();
        let mut differing = 0;
        for h in grid.h_min..grid.h_min + hc as i32 {
            for k in grid.k_min..grid.k_min + kc as i32 {
                for l in grid.l_min..grid.l_min + lc as i32 {
                    let (plus, minus) = (grid.get(h, k, l).unwrap(), grid.get(-h, -k, -l).unwrap_or(UNSET));
                    if plus != UNSET && minus != UNSET && plus != minus {
                        differing += 1;
                    }
                }
            }
        }
        assert!(differing > 100, "{differing}");
    }

    #[test]
    fn big_endian_files_read_the_same() {
        let little = std::fs::read(fixture("p212121.mtz")).unwrap();
        assert_eq!(little[9] >> 4, 4, "the fixture is little-endian");
        let (header_at, _) = layout(Path::new("x"), &little).unwrap();
        let mut big = little.clone();
        // every word before the header (offset word, table) swapped; the stamp says big-endian
        for word in big[4..header_at as usize].chunks_mut(4) {
            word.reverse();
        }
        big[8..12].copy_from_slice(&[0x11, 0x11, 0, 0]);
        let a = parse_mtz(Path::new("le.mtz"), &little, None, UNSET).unwrap();
        let b = parse_mtz(Path::new("be.mtz"), &big, None, UNSET).unwrap();
        assert_eq!(a.grid, b.grid);
    }

    #[test]
    fn header_gives_the_cell_and_space_group() {
        let header = read_header(&fixture("p6122.mtz")).unwrap();
        assert_eq!(header.space_group.as_deref(), Some("P 61 2 2"));
        let amplitudes = choose_amplitudes(Path::new("x"), &header, None).unwrap();
        assert_eq!(file_cell(&header, amplitudes), Some([45.0, 45.0, 70.0, 90.0, 90.0, 120.0]));
    }

    #[test]
    fn operators_parse_to_rotations() {
        assert_eq!(rotation_part("X,Y,Z").unwrap(), [[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
        assert_eq!(rotation_part(" -y, x-y , z+1/3").unwrap(), [[0, -1, 0], [1, -1, 0], [0, 0, 1]]);
        assert_eq!(rotation_part("1/2+X,-Y+0.5,-Z").unwrap(), [[1, 0, 0], [0, -1, 0], [0, 0, -1]]);
        assert_eq!(rotation_part("2*X-X,Y,Z").unwrap(), [[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
        // h·R: the 6-fold screw -Y,X-Y,Z takes (1,0,0) to (0,-1,0)
        assert_eq!(apply([1, 0, 0], &rotation_part("-Y,X-Y,Z").unwrap()), [0, -1, 0]);
        for bad in ["X,Y", "X,Y,Q", "X,X,Z", "X,Y,", "X,Y,Z+1/0"] {
            assert!(rotation_part(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let good = std::fs::read(fixture("p212121.mtz")).unwrap();
        assert!(error_text(b"h k l F\n1 2 3 4\n", None).contains("not an MTZ file"));
        assert!(error_text(&good[..12], None).contains("truncated"));
        assert!(error_text(&good[..good.len() / 2], None).contains("truncated"));
        // the header cut before its END record
        let end = good.windows(4).position(|w| w == b"END ").unwrap();
        assert!(error_text(&good[..end], None).contains("no END record"));
        let text = error_text(&good, Some("FOBS"));
        assert!(text.contains("no column `FOBS`") && text.contains("FP (F)"), "{text}");
        let text = error_text(&good, Some("SIGFP"));
        assert!(text.contains("type Q (standard deviation), not an amplitude"), "{text}");
        let text = error_text(&good, Some("H"));
        assert!(text.contains("type H"), "{text}");
        // a reflection count the table cannot hold
        let mut damaged = good.clone();
        let ncol = damaged.windows(5).position(|w| w == b"NCOL ").unwrap();
        damaged[ncol..ncol + 80].copy_from_slice(format!("{:<80}", "NCOL 6 99999999 0").as_bytes());
        assert!(error_text(&damaged, None).contains("damaged"));
        // an unmerged file: SIGFP's record turned into a BATCH column
        let mut unmerged = good.clone();
        let sig = unmerged.windows(12).position(|w| w == b"COLUMN SIGFP").unwrap();
        let record = format!("{:<80}", "COLUMN BATCH                          B       1.000000000       1.000000000    1");
        unmerged[sig..sig + 80].copy_from_slice(record.as_bytes());
        let text = error_text(&unmerged, None);
        assert!(text.contains("unmerged MTZ") && text.contains("`BATCH` of type B"), "{text}");
    }

    #[test]
    fn devices_are_refused_at_once() {
        let zero = Path::new("/dev/zero");
        if zero.exists() {
            assert!(!is_mtz(zero).unwrap());
            let text = read_mtz(zero, None, 0.0).err().unwrap().to_string();
            assert!(text.contains("not an MTZ file"), "{text}");
        }
    }
}
