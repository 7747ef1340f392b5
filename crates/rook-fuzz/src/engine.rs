//! The engine: runs one input (a panic is a failure), generates inputs from
//! seeds, shrinks a failing input, and keeps the corpus on disk.
//!
//! Layout under the fuzz directory (`fuzz/` in the repository):
//!
//! | path | holds |
//! |---|---|
//! | `seeds/<target>/*` | valid inputs to mutate (hand-written; also replayed) |
//! | `corpus/<target>/<hash>` | inputs that once failed: regressions, replayed by the tests |

use std::cell::RefCell;
use std::fs;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fastrand::Rng;

use crate::mutate;
use crate::Target;

/// A stable 64-bit FNV-1a hash (file names, chunkings derived from bytes).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces the panic hook with one that records the message (with its
/// location) for [`run_one`] instead of printing it: the runner shows it
/// once, with the input.
pub fn quiet_panics() {
    panic::set_hook(Box::new(|info| {
        let msg = info.to_string();
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg));
    }));
}

/// Runs one input through a target: `Err` with the broken invariant or the
/// panic message.
pub fn run_one(target: &Target, input: &[u8]) -> Result<(), String> {
    LAST_PANIC.with(|p| p.borrow_mut().take());
    match panic::catch_unwind(AssertUnwindSafe(|| (target.check)(input))) {
        Ok(result) => result,
        Err(payload) => {
            let recorded = LAST_PANIC.with(|p| p.borrow_mut().take());
            let msg = recorded.unwrap_or_else(|| {
                payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".into())
            });
            Err(format!("panic: {msg}"))
        }
    }
}

/// The files of a directory (none when it does not exist), sorted by name.
fn files(dir: &Path) -> io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if path.is_file() && !hidden {
            let bytes = fs::read(&path)?;
            out.push((path, bytes));
        }
    }
    out.sort();
    Ok(out)
}

/// A target's seeds (`seeds/<target>/`).
pub fn seeds(dir: &Path, target: &str) -> io::Result<Vec<(PathBuf, Vec<u8>)>> {
    files(&dir.join("seeds").join(target))
}

/// A target's corpus of once-failing inputs (`corpus/<target>/`).
pub fn corpus(dir: &Path, target: &str) -> io::Result<Vec<(PathBuf, Vec<u8>)>> {
    files(&dir.join("corpus").join(target))
}

/// Writes a failing input to `corpus/<target>/<hash>` and returns the path.
pub fn save_failure(dir: &Path, target: &str, input: &[u8]) -> io::Result<PathBuf> {
    let folder = dir.join("corpus").join(target);
    fs::create_dir_all(&folder)?;
    let path = folder.join(format!("{:016x}", fnv1a(input)));
    fs::write(&path, input)?;
    Ok(path)
}

/// Makes inputs for one target from its seeds.
#[derive(Debug)]
pub struct Generator {
    target: &'static Target,
    seeds: Vec<Vec<u8>>,
    rng: Rng,
}

impl Generator {
    /// A generator over `seeds`, reproducible from `seed`.
    pub fn new(target: &'static Target, seeds: Vec<Vec<u8>>, seed: u64) -> Self {
        Generator {
            target,
            seeds,
            rng: Rng::with_seed(seed),
        }
    }

    /// The next input.
    pub fn next_input(&mut self) -> Vec<u8> {
        mutate::generate(
            &mut self.rng,
            self.target.kind,
            self.target.dictionary,
            &self.seeds,
        )
    }
}

/// A failing input and why it failed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The input (shrunk when [`shrink`] ran).
    pub input: Vec<u8>,
    /// The broken invariant or panic message.
    pub reason: String,
}

/// Runs `cases` generated inputs; the first failure, if any.
pub fn run_cases(gen: &mut Generator, cases: u64) -> Option<Failure> {
    for _ in 0..cases {
        let input = gen.next_input();
        if let Err(reason) = run_one(gen.target, &input) {
            return Some(Failure { input, reason });
        }
    }
    None
}

/// Shrinks a failing input: removes spans (halves, quarters, … single
/// bytes) while the target still fails, within `budget`. Cheap, not minimal.
pub fn shrink(target: &Target, failure: Failure, budget: Duration) -> Failure {
    let deadline = Instant::now() + budget;
    let mut best = failure;
    let mut chunk = best.input.len() / 2;
    while chunk > 0 && Instant::now() < deadline {
        let mut at = 0;
        let mut progressed = false;
        while at + chunk <= best.input.len() && Instant::now() < deadline {
            let mut candidate = best.input.clone();
            candidate.drain(at..at + chunk);
            match run_one(target, &candidate) {
                Err(reason) if signature(&reason) == signature(&best.reason) => {
                    best = Failure {
                        input: candidate,
                        reason,
                    };
                    progressed = true;
                }
                _ => at += chunk,
            }
        }
        if !progressed {
            chunk /= 2;
        }
    }
    best
}

/// What makes two failures the same bug: a panic's location line, or the
/// invariant's name (the text before the first `:`).
fn signature(reason: &str) -> &str {
    if reason.starts_with("panic: ") {
        reason.lines().next().unwrap_or(reason)
    } else {
        reason.split(':').next().unwrap_or(reason)
    }
}
