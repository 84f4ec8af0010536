//! Mutation fuzzing of every input parser and of the command line (parse + resolve, no render),
//! bounded so that it runs in CI. Each target first replays its committed corpus
//! (`tests/fuzz_corpus/<target>/`), then feeds deterministic mutations of real inputs (the
//! golden corpus and built-in samples) and of the corpus. Every input must:
//! - return, never panic (caught and reported with the input);
//! - when refused, give one line that names the file and the line or key (or the flag);
//! - never ask the allocator for more than the parser's documented limit allows.
//!
//! `NANOBRAGG_FUZZ_ITERS=<n>` multiplies the iteration counts (default 1; CI budget);
//! `NANOBRAGG_FUZZ_SEED=<n>` changes the deterministic seed; `NANOBRAGG_FUZZ_SAVE=1` adds the
//! first input of every new kind of outcome to the corpus directory.

mod common;

use nanobragg::cli::Resolve;
use nanobragg::cli::parse::{Command, parse};
use nanobragg::error::Error;
use nanobragg::io::{fdump, hkl, mat, smv, sourcefile};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---- the largest allocation each thread asks for

/// Passes everything to the system allocator, remembering per thread the largest request.
struct Recording;

thread_local! {
    static LARGEST_REQUEST: Cell<usize> = const { Cell::new(0) };
}

fn note_request(size: usize) {
    let _ = LARGEST_REQUEST.try_with(|c| c.set(c.get().max(size)));
}

unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_request(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_request(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_request(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Recording = Recording;

/// Runs `f`, returning its result (or the panic message) and the largest allocation it asked for.
fn observed<T>(f: impl FnOnce() -> T) -> (std::result::Result<T, String>, usize) {
    LARGEST_REQUEST.with(|c| c.set(0));
    let outcome = catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
    });
    (outcome, LARGEST_REQUEST.with(Cell::get))
}

// ---- deterministic randomness and mutation

/// SplitMix64: tiny, fast, and the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn seed_for(target: &str) -> u64 {
    let base: u64 = std::env::var("NANOBRAGG_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20240611);
    target.bytes().fold(base, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

fn iterations(base: usize) -> usize {
    let factor: usize = std::env::var("NANOBRAGG_FUZZ_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    base * factor.max(1)
}

/// Fragments that parsers treat specially: numbers at the edges, separators, header syntax.
const TOKENS: &[&str] = &[
    "0", "-1", "1", "-0", "0.5", "1.", ".", "e", "-", "+", "nan", "NaN", "inf", "-inf", "1e308", "-1e308", "1e-320", "1e400",
    "2147483647", "-2147483648", "2147483648", "4294967296", "9999999999999999999", "2000000", "\n", "\r\n", "\r", "#", " ", "\t",
    ",", ";", ":", "!", "\x0c", "\0", "{", "}", "=", "HEADER_BYTES=", "SIZE1=", "SIZE2=", "BYTE_ORDER=big_endian;",
    "BYTE_ORDER=little_endian;", "BYTE_ORDER=", "PIXEL_SIZE=", "DISTANCE=", "WAVELENGTH=", "CLOSE_DISTANCE=", "\u{fffd}",
];

/// Largest input a mutation may grow to (keeps every iteration quick).
const MAX_INPUT: usize = 1 << 16;

fn range(rng: &mut Rng, len: usize) -> (usize, usize) {
    let start = rng.below(len + 1);
    let end = (start + 1 + rng.below(32)).min(len);
    (start, end.max(start))
}

/// One to four random edits of `input`, some borrowing from `pool` (crossover).
fn mutate(rng: &mut Rng, input: &[u8], pool: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = rng.next() as u8;
            }
            2 | 3 => {
                let at = rng.below(len + 1);
                let token = rng.pick(TOKENS).as_bytes();
                out.splice(at..at, token.iter().copied());
            }
            4 => {
                let (a, b) = range(rng, len);
                out.drain(a..b);
            }
            5 => {
                let (a, b) = range(rng, len);
                let copy = out[a..b].to_vec();
                let at = rng.below(out.len() + 1);
                out.splice(at..at, copy);
            }
            6 => out.truncate(rng.below(len + 1)),
            7 => replace_number(rng, &mut out),
            _ if !pool.is_empty() => {
                let other = rng.pick(pool);
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            _ => {}
        }
    }
    out.truncate(MAX_INPUT);
    out
}

/// Replaces one run of digits with a token: the quickest way to reach range and size checks.
fn replace_number(rng: &mut Rng, out: &mut Vec<u8>) {
    let digits: Vec<usize> = (0..out.len()).filter(|&i| out[i].is_ascii_digit() && (i == 0 || !out[i - 1].is_ascii_digit())).collect();
    if digits.is_empty() {
        return;
    }
    let start = *rng.pick(&digits);
    let end = (start..out.len()).find(|&i| !out[i].is_ascii_digit()).unwrap_or(out.len());
    out.splice(start..end, rng.pick(TOKENS).bytes());
}

// ---- outcome classification and the corpus

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus").join(target)
}

fn read_corpus(target: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir(target)).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// What kind of outcome a message is: quoted fragments dropped and numbers in any notation
/// written `#`, so that one kind of refusal is kept once in the corpus however its details vary.
fn kind_of(message: &str) -> String {
    let mut text = message.to_string();
    for q in ['`', '\''] {
        if let (Some(a), Some(b)) = (text.find(q), text.rfind(q))
            && a < b
        {
            text.replace_range(a + 1..b, "");
        }
    }
    let mut out = String::new();
    let mut in_number = false;
    for c in text.chars() {
        let numeric = c.is_ascii_digit() || (in_number && matches!(c, '.' | 'e' | 'E' | '+' | '-'));
        if !numeric {
            out.push(c);
        } else if !in_number {
            out.push('#');
        }
        in_number = numeric;
    }
    out
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// Inputs larger than this are not added to the corpus, and no target saves more than
/// `MAX_CORPUS_FILES` (the corpus stays small enough to commit and to replay on every run).
const MAX_CORPUS_FILE: usize = 4096;
const MAX_CORPUS_FILES: usize = 120;

struct Corpus {
    target: &'static str,
    ext: &'static str,
    saving: bool,
    saved: usize,
    kinds: HashSet<String>,
}

impl Corpus {
    fn new(target: &'static str, ext: &'static str) -> Corpus {
        let saving = std::env::var_os("NANOBRAGG_FUZZ_SAVE").is_some();
        Corpus { target, ext, saving, saved: read_corpus(target).len(), kinds: HashSet::new() }
    }

    /// Records the outcome kind; saves the input when the kind is new and saving is on.
    fn observe(&mut self, kind: String, input: &[u8]) {
        let new_kind = self.kinds.insert(kind);
        if new_kind && self.saving && input.len() <= MAX_CORPUS_FILE && self.saved < MAX_CORPUS_FILES {
            let dir = corpus_dir(self.target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{:016x}.{}", fnv(input), self.ext)), input).unwrap();
            self.saved += 1;
        }
    }
}

// ---- hang guard

/// Aborts the test process, naming the input, if one input keeps a target busy for minutes:
/// a parser that never returns must fail CI loudly instead of stalling it.
struct HangGuard {
    progress: Arc<AtomicU64>,
    current: Arc<Mutex<String>>,
    done: Arc<AtomicBool>,
}

const HANG_LIMIT: Duration = Duration::from_secs(300);

impl HangGuard {
    fn start(target: &'static str) -> HangGuard {
        let guard = HangGuard { progress: Arc::default(), current: Arc::default(), done: Arc::default() };
        let (progress, current, done) = (guard.progress.clone(), guard.current.clone(), guard.done.clone());
        std::thread::spawn(move || {
            let step = Duration::from_millis(200);
            let (mut last, mut still) = (u64::MAX, Duration::ZERO);
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(step);
                let now = progress.load(Ordering::Relaxed);
                still = if now == last { still + step } else { Duration::ZERO };
                last = now;
                if still >= HANG_LIMIT {
                    eprintln!("fuzz target {target}: no return for {HANG_LIMIT:?} on input:\n{}", current.lock().unwrap());
                    std::process::abort();
                }
            }
        });
        guard
    }

    fn entering(&self, describe: impl FnOnce() -> String) {
        self.progress.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut c) = self.current.lock() {
            *c = describe();
        }
    }
}

impl Drop for HangGuard {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

// ---- byte-input targets

/// A parser under test: `run` parses `bytes` as if read from `path`.
struct ByteTarget {
    name: &'static str,
    ext: &'static str,
    run: fn(&Path, &[u8]) -> nanobragg::error::Result<()>,
    /// largest allocation a correct parser may ask for, given the input length
    alloc_bound: fn(usize) -> usize,
    iterations: usize,
}

const MIB: usize = 1 << 20;

fn preview(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(400)];
    format!("{} bytes: {:?}", bytes.len(), String::from_utf8_lossy(shown))
}

/// Checks one input; returns a failure description, or the outcome kind.
fn check_bytes(t: &ByteTarget, path: &Path, input: &[u8]) -> std::result::Result<String, String> {
    let (outcome, largest) = observed(|| (t.run)(path, input));
    let bound = (t.alloc_bound)(input.len());
    if largest > bound {
        return Err(format!("asked for {largest} bytes at once (bound {bound}) on {}", preview(input)));
    }
    match outcome {
        Err(panic) => Err(format!("panicked ({panic}) on {}", preview(input))),
        Ok(Ok(())) => Ok("ok".into()),
        Ok(Err(e)) => {
            let text = e.to_string();
            let named = matches!(&e, Error::Parse { location, .. } if !location.is_empty()) && text.contains(&path.display().to_string());
            if !named || text.contains('\n') {
                return Err(format!("unhelpful error `{text}` on {}", preview(input)));
            }
            Ok(kind_of(&text.replace(&path.display().to_string(), "")))
        }
    }
}

fn fuzz_bytes(t: ByteTarget, seeds: Vec<Vec<u8>>) {
    let path = PathBuf::from(format!("fuzz/input.{}", t.ext));
    let corpus_inputs = read_corpus(t.name);
    let mut pool = seeds;
    pool.extend(corpus_inputs.iter().cloned());
    assert!(!pool.is_empty());
    let mut corpus = Corpus::new(t.name, t.ext);
    let guard = HangGuard::start(t.name);
    let mut failures = Vec::new();
    let mut rng = Rng(seed_for(t.name));
    let mutants = (0..iterations(t.iterations)).map(|_| {
        let base = rng.pick(&pool).clone();
        mutate(&mut rng, &base, &pool)
    });
    let replayed: Vec<Vec<u8>> = pool.clone();
    let mut count = 0;
    for input in replayed.into_iter().chain(mutants) {
        guard.entering(|| preview(&input));
        count += 1;
        match check_bytes(&t, &path, &input) {
            Ok(kind) => corpus.observe(kind, &input),
            Err(problem) if failures.len() < 10 => failures.push(problem),
            Err(_) => {}
        }
    }
    println!("{}: {count} inputs, {} kinds of outcome, {} corpus files replayed", t.name, corpus.kinds.len(), corpus_inputs.len());
    assert!(failures.is_empty(), "{} failures:\n{}", t.name, failures.join("\n"));
    assert!(corpus.kinds.len() > 3, "{}: the mutations reach too few outcomes: {:?}", t.name, corpus.kinds);
}

fn golden_file(relative: &str) -> Option<Vec<u8>> {
    common::golden_dir().and_then(|g| std::fs::read(g.join(relative)).ok())
}

/// The first `lines` lines of a golden text file.
fn golden_head(relative: &str, lines: usize) -> Option<Vec<u8>> {
    let text = golden_file(relative)?;
    let text = String::from_utf8_lossy(&text);
    Some(text.lines().take(lines).map(|l| format!("{l}\n")).collect::<String>().into_bytes())
}

#[test]
fn fuzz_hkl() {
    let mut seeds: Vec<Vec<u8>> = vec![b"0 0 0 10\n1 0 0 20.5\n-1 2 -3 7\n".to_vec(), b"# h k l F\n1, 2, 3, 4.5 # c\n\n2 2 2 1e2\n".to_vec()];
    seeds.extend(["inputs/P1.hkl", "inputs/smooth.hkl", "inputs/scaled.hkl"].iter().filter_map(|f| golden_head(f, 60)));
    seeds.extend(golden_file("a39_test_pattern_at027/test_pattern.hkl"));
    let target = ByteTarget {
        name: "hkl",
        ext: "hkl",
        run: |p, b| hkl::parse_hkl(p, b, 1.0).map(drop),
        // the grid may be as large as MAX_GRID_CELLS; everything else grows with the input
        alloc_bound: |len| hkl::MAX_GRID_CELLS * 8 + 64 * len + MIB,
        iterations: 100_000,
    };
    fuzz_bytes(target, seeds);
}

fn small_fdump(ranges: (i32, i32, i32, i32, i32, i32)) -> Vec<u8> {
    let (h_min, h_max, k_min, k_max, l_min, l_max) = ranges;
    let cells = ((h_max - h_min + 1) * (k_max - k_min + 1) * (l_max - l_min + 1)) as usize;
    let sf = hkl::StructureFactors { h_min, h_max, k_min, k_max, l_min, l_max, values: (0..cells).map(|i| i as f64 * 0.25).collect() };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Fdump.bin");
    fdump::write_fdump(&path, &sf).unwrap();
    std::fs::read(path).unwrap()
}

#[test]
fn fuzz_fdump() {
    let mut seeds = vec![small_fdump((0, 1, 0, 1, 0, 1)), small_fdump((-2, 1, 0, 0, -1, 3))];
    seeds.extend(golden_file("a40_fdump_read/Fdump.bin"));
    let target = ByteTarget {
        name: "fdump",
        ext: "bin",
        run: |p, b| fdump::parse_fdump(p, b).map(drop),
        // the header is checked against the data actually present before anything is allocated
        alloc_bound: |len| 2 * len + MIB,
        iterations: 100_000,
    };
    fuzz_bytes(target, seeds);
}

#[test]
fn fuzz_mosflm_matrix() {
    let mut seeds = vec![b"0.01 0 0\n0 0.02 0\n0 0 0.03\n".to_vec(), b"-0.02 0.01 0.001\n0.003 -0.02 0.01\n0.01 0.01 -0.02\n0 0 0\n".to_vec()];
    seeds.extend(golden_file("inputs/A.mat"));
    let target = ByteTarget {
        name: "mat",
        ext: "mat",
        run: |p, b| mat::parse_mosflm_matrix(p, b).map(drop),
        alloc_bound: |len| 4 * len + MIB,
        iterations: 100_000,
    };
    fuzz_bytes(target, seeds);
}

fn small_smv(width: usize, height: usize) -> Vec<u8> {
    let header = smv::SmvHeader {
        keys: smv::SmvKeys::NanoBragg,
        fpixels: width,
        spixels: height,
        pixel_size_mm: 0.1,
        distance_mm: 100.0,
        wavelength_a: 1.0,
        beam_center_x_mm: 0.2,
        beam_center_y_mm: 0.2,
        adxv_center_x_mm: 0.2,
        adxv_center_y_mm: 0.2,
        mosflm_center_x_mm: 0.15,
        mosflm_center_y_mm: 0.15,
        denzo_x_beam_mm: 0.2,
        denzo_y_beam_mm: 0.2,
        dials_origin_mm: [-0.2, 0.2, -100.0],
        xds_orgx: 2.5,
        xds_orgy: 2.5,
        close_distance_mm: 100.0,
        phi_deg: 0.0,
        osc_start_deg: 0.0,
        osc_range_deg: 0.1,
        twotheta_deg: 0.0,
        c_parity: false,
    };
    let pixels: Vec<u16> = (0..width * height).map(|i| i as u16).collect();
    smv::encode_smv(&header, &pixels)
}

#[test]
fn fuzz_smv() {
    let big_endian = {
        let mut b = b"{\nHEADER_BYTES=1024;\nDIM=2;\nBYTE_ORDER=big_endian;\nSIZE1=2;\nSIZE2=3;\n}\x0c".to_vec();
        b.resize(1024, b' ');
        b.extend_from_slice(&[0, 1, 0, 2, 0, 3, 1, 0, 2, 0, 3, 0]);
        b
    };
    let mut seeds = vec![small_smv(4, 4), small_smv(3, 1), big_endian];
    seeds.extend(golden_file("a04_at001_det64/int.img"));
    let target = ByteTarget {
        name: "smv",
        ext: "img",
        run: |p, b| smv::read_smv_from(p, b).map(drop),
        // reads are bounded by the file, plus one 16 MiB read-ahead buffer
        alloc_bound: |len| 4 * len + 17 * MIB,
        iterations: 50_000,
    };
    fuzz_bytes(target, seeds);
}

#[test]
fn fuzz_sourcefile() {
    let mut seeds = vec![b"# X Y Z w l\n-10 0 0 1 1e-10\n-10,0.01;0:0.5!1.1e-10\n-10 0 0\n".to_vec(), b"-10 0 0 2\r\n-10 1 1".to_vec()];
    seeds.extend(golden_file("a59_sourcefile/sources.txt"));
    let target = ByteTarget {
        name: "sourcefile",
        ext: "txt",
        run: |p, b| {
            sourcefile::parse_sourcefile(p, b, false)?;
            sourcefile::parse_sourcefile(p, b, true).map(drop)
        },
        alloc_bound: |len| 128 * len + MIB,
        iterations: 100_000,
    };
    fuzz_bytes(target, seeds);
}

#[test]
fn fuzz_shot_list() {
    let seeds = vec![
        b"# stills\n{\"misset\": [10, 20, 30], \"N\": 7, \"fluence\": 2e22, \"seed\": 5}\n\n{}\n".to_vec(),
        b"{\"misset\": \"random\", \"misset_seed\": 4, \"distance\": 90, \"pivot\": \"sample\"}\n{\"round_xtal\": true}\n".to_vec(),
        b"{\"cell\": [70, 80, 90, 90, 90, 90], \"printout_pixel\": [3, 4], \"lambda\": 1.1, \"Na\": 2}\r\n".to_vec(),
        b"{\"floatfile\": \"x\", \"bogus\": null, \"N\": [1, 2], \"-N\": 1}\n[1]\n{\"N\": }".to_vec(),
    ];
    let target = ByteTarget {
        name: "shots",
        ext: "jsonl",
        run: |p, b| {
            let args: Vec<String> = "-cell 50 50 50 90 90 90 -default_F 1".split(' ').map(String::from).collect();
            let Command::Run(base) = parse(&args, -1)? else { unreachable!() };
            nanobragg::dataset::shots::check_shot_bytes(p, b, &base).map(drop)
        },
        alloc_bound: |len| 64 * len + MIB,
        iterations: 30_000,
    };
    fuzz_bytes(target, seeds);
}

// ---- the command line: parse + resolve, no rendering

/// Where `$GOLDEN` in a saved command line points (a missing directory without the corpus:
/// the lines then exercise the missing-file paths).
fn golden_root() -> PathBuf {
    common::golden_dir().unwrap_or_else(|| PathBuf::from("/nonexistent-golden"))
}

/// Input files some golden cases keep in their own folder.
const CASE_INPUTS: [&str; 4] = ["test_pattern.hkl", "sources.txt", "mask.img", "header.img"];

/// Golden command lines with their file arguments made absolute, as `$GOLDEN/...`. The large
/// `scaled.hkl` is swapped for `P1.hkl` to keep one resolve quick.
fn golden_command_lines() -> Vec<Vec<String>> {
    let Some(golden) = common::golden_dir() else { return Vec::new() };
    common::cases(&golden)
        .iter()
        .map(|case| {
            common::case_args(&golden, case)
                .into_iter()
                .map(|a| match a.strip_prefix("../inputs/") {
                    Some("scaled.hkl") => "$GOLDEN/inputs/P1.hkl".to_string(),
                    Some(name) => format!("$GOLDEN/inputs/{name}"),
                    None if CASE_INPUTS.contains(&a.as_str()) => format!("$GOLDEN/{case}/{a}"),
                    None => a,
                })
                .collect()
        })
        .collect()
}

fn flag_names() -> Vec<&'static str> {
    nanobragg::cli::defs::FLAGS.iter().flat_map(|f| std::iter::once(f.name).chain(f.aliases.iter().copied())).collect()
}

const VALUES: &[&str] = &[
    "0", "-1", "1", "2", "3", "0.5", "-0", "90", "180", "1e-3", "nan", "inf", "-inf", "1e308", "1e-308", "1e400", "2000000",
    "99999999999", "4294967296", "18446744073709551616", "random", "beam", "sample", "cpu", "abc", "", "-", "--", "1,2", "0x10",
    "$GOLDEN/inputs/A.mat", "$GOLDEN/inputs/P1.hkl", "$GOLDEN/a80_img_header/header.img", "$GOLDEN/a79_mask_header_geometry/mask.img",
    "$GOLDEN/a59_sourcefile/sources.txt", "/nonexistent/file", "/",
];

fn mutate_args(rng: &mut Rng, args: &[String], flags: &[&str]) -> Vec<String> {
    let mut out = args.to_vec();
    for _ in 0..1 + rng.below(3) {
        let len = out.len();
        let at = rng.below(len + 1);
        match rng.below(9) {
            0 if len > 0 => drop(out.remove(at.min(len - 1))),
            1 if len > 0 => out.insert(at, out[at.min(len - 1)].clone()),
            2 | 3 => {
                let mut inserted = vec![rng.pick(flags).to_string()];
                inserted.extend((0..rng.below(4)).map(|_| rng.pick(VALUES).to_string()));
                out.splice(at..at, inserted);
            }
            4 if len > 0 => out[at.min(len - 1)] = rng.pick(VALUES).to_string(),
            5 if len > 0 => out[at.min(len - 1)] = rng.pick(flags).to_string(),
            6 if len > 1 => out.swap(at.min(len - 2), at.min(len - 2) + 1),
            7 if len > 0 => {
                let i = at.min(len - 1);
                let bytes = mutate(rng, out[i].as_bytes(), &[]);
                out[i] = String::from_utf8_lossy(&bytes).into_owned();
            }
            _ => out.push("-c_parity".into()),
        }
    }
    out
}

fn substitute(args: &[String], golden: &Path) -> Vec<String> {
    args.iter().map(|a| a.replace("$GOLDEN", &golden.display().to_string())).collect()
}

/// Parse and resolve; resolve reads the files the arguments name but renders nothing.
fn parse_and_resolve(args: &[String]) -> nanobragg::error::Result<()> {
    match parse(args, -1)? {
        Command::Help => Ok(()),
        Command::Run(raw) => raw.resolve().map(drop),
    }
}

fn check_args(args: &[String], golden: &Path) -> std::result::Result<String, String> {
    let real = substitute(args, golden);
    let (outcome, largest) = observed(|| parse_and_resolve(&real));
    // the largest tables resolve may build: the structure-factor grid, or a 2^24-entry table
    let bound = (hkl::MAX_GRID_CELLS * 8).max(nanobragg::model::MAX_TABLE as usize * 72) + 64 * MIB;
    if largest > bound {
        return Err(format!("asked for {largest} bytes at once (bound {bound}) on {args:?}"));
    }
    match outcome {
        Err(panic) => Err(format!("panicked ({panic}) on {args:?}")),
        Ok(Ok(())) => Ok("ok".into()),
        Ok(Err(e)) => {
            let text = e.to_string();
            if text.is_empty() || text.contains('\n') || matches!(e, Error::Gpu(_) | Error::Interrupted) {
                return Err(format!("unhelpful error `{text}` on {args:?}"));
            }
            Ok(kind_of(&text.replace(&golden.display().to_string(), "$GOLDEN")))
        }
    }
}

#[test]
fn fuzz_command_line() {
    let golden = golden_root();
    let flags = flag_names();
    let mut pool = golden_command_lines();
    pool.push("-cell 50 50 50 90 90 90 -N 2 -default_F 10 -detpixels 16".split_whitespace().map(String::from).collect());
    let corpus_lines: Vec<Vec<String>> =
        read_corpus("cli").iter().map(|b| String::from_utf8_lossy(b).lines().map(String::from).collect()).collect();
    pool.extend(corpus_lines.iter().cloned());
    let mut corpus = Corpus::new("cli", "args");
    let guard = HangGuard::start("cli");
    let mut failures = Vec::new();
    let mut rng = Rng(seed_for("cli"));
    let mutants: Vec<Vec<String>> = (0..iterations(30_000))
        .map(|_| {
            let base = rng.pick(&pool).clone();
            mutate_args(&mut rng, &base, &flags)
        })
        .collect();
    let mut count = 0;
    for args in pool.iter().chain(&mutants) {
        guard.entering(|| format!("{args:?}"));
        count += 1;
        match check_args(args, &golden) {
            Ok(kind) => corpus.observe(kind, args.join("\n").as_bytes()),
            Err(problem) if failures.len() < 10 => failures.push(problem),
            Err(_) => {}
        }
    }
    println!("cli: {count} command lines, {} kinds of outcome, {} corpus files replayed", corpus.kinds.len(), corpus_lines.len());
    assert!(failures.is_empty(), "cli failures:\n{}", failures.join("\n"));
    assert!(corpus.kinds.len() > 10, "the mutations reach too few outcomes: {:?}", corpus.kinds);
}
