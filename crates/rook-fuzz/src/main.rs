//! The fuzz runner: `rook-fuzz [--minutes N] [--seconds N] [--target NAME[,NAME…]]
//! [--dir PATH] [--seed N]`, normally started by `cargo xtask fuzz`.
//!
//! It replays every seed and corpus file, then runs the targets round-robin
//! (a few seconds each per round) with fresh random seeds until the time is
//! up, printing the cases run. A failing input is shrunk, written to
//! `<dir>/corpus/<target>/<hash>`, printed, and that target leaves the
//! rotation; the runner exits 1 when anything failed. A case that runs for
//! more than a minute (a hang) is written the same way and ends the run.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rook_fuzz::engine::{self, Failure, Generator};
use rook_fuzz::Target;

struct Args {
    total: Duration,
    target: Option<String>,
    dir: PathBuf,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        total: Duration::from_secs(60),
        target: None,
        dir: rook_fuzz::default_dir(),
        seed: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--minutes" => {
                let m: f64 = value()?.parse().map_err(|_| "--minutes takes a number")?;
                args.total = Duration::try_from_secs_f64(m * 60.0).map_err(|e| e.to_string())?;
            }
            "--seconds" => {
                let s: u64 = value()?.parse().map_err(|_| "--seconds takes a number")?;
                args.total = Duration::from_secs(s);
            }
            "--target" => args.target = Some(value()?),
            "--dir" => args.dir = PathBuf::from(value()?),
            "--seed" => args.seed = value()?.parse().map_err(|_| "--seed takes a number")?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// What the watchdog sees: the case running now.
type Current = Arc<Mutex<Option<(Instant, &'static str, Vec<u8>)>>>;

const HANG: Duration = Duration::from_secs(60);

fn watchdog(current: Current, dir: PathBuf) {
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        let Ok(guard) = current.lock() else { return };
        if let Some((started, target, input)) = guard.as_ref() {
            if started.elapsed() > HANG {
                report(
                    &dir,
                    target,
                    &Failure {
                        input: input.clone(),
                        reason: format!("hang: one case ran for more than {HANG:?}"),
                    },
                );
                std::process::exit(3);
            }
        }
    });
}

fn report(dir: &Path, target: &str, f: &Failure) {
    let shown = String::from_utf8_lossy(&f.input[..f.input.len().min(2000)]).into_owned();
    println!("\n!!! {target}: {}", f.reason);
    println!("input ({} bytes): {shown:?}", f.input.len());
    match engine::save_failure(dir, target, &f.input) {
        Ok(path) => println!("written to {}", path.display()),
        Err(e) => println!("cannot write the input: {e}"),
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("rook-fuzz: {e}");
            return ExitCode::from(2);
        }
    };
    let mut chosen: Vec<&'static Target> = Vec::new();
    for name in args.target.iter().flat_map(|t| t.split(',')) {
        match rook_fuzz::target(name) {
            Some(t) => chosen.push(t),
            None => {
                let names: Vec<&str> = rook_fuzz::targets().iter().map(|t| t.name).collect();
                eprintln!("rook-fuzz: no target {name}; targets: {}", names.join(", "));
                return ExitCode::from(2);
            }
        }
    }
    if chosen.is_empty() {
        chosen = rook_fuzz::targets().iter().collect();
    }
    engine::quiet_panics();
    let current: Current = Arc::new(Mutex::new(None));
    watchdog(current.clone(), args.dir.clone());
    println!(
        "rook-fuzz: {} target(s) for {:?}, seed {}, corpus {}",
        chosen.len(),
        args.total,
        args.seed,
        args.dir.display()
    );
    let mut failed = false;
    let mut active = Vec::new();
    for (i, t) in chosen.into_iter().enumerate() {
        let seeds = engine::seeds(&args.dir, t.name).unwrap_or_default();
        let corpus = engine::corpus(&args.dir, t.name).unwrap_or_default();
        let mut ok = true;
        for (path, input) in seeds.iter().chain(&corpus) {
            if let Err(reason) = engine::run_one(t, input) {
                println!("!!! {}: {} fails: {reason}", t.name, path.display());
                ok = false;
            }
        }
        failed |= !ok;
        let inputs: Vec<Vec<u8>> = seeds.into_iter().chain(corpus).map(|(_, b)| b).collect();
        println!("{}: {} seed/corpus inputs replayed", t.name, inputs.len());
        let gen = Generator::new(t, inputs, args.seed.wrapping_add(i as u64));
        active.push((t, gen, 0u64));
    }
    let start = Instant::now();
    let slice = Duration::from_secs(3)
        .min(args.total / active.len().max(1) as u32 + Duration::from_millis(100));
    while start.elapsed() < args.total && !active.is_empty() {
        let mut still = Vec::new();
        for (t, mut gen, mut total) in active {
            if start.elapsed() >= args.total {
                still.push((t, gen, total));
                continue;
            }
            let until = Instant::now() + slice;
            let mut cases = 0u64;
            let mut failure = None;
            while Instant::now() < until {
                let input = gen.next_input();
                if let Ok(mut g) = current.lock() {
                    *g = Some((Instant::now(), t.name, input.clone()));
                }
                let result = engine::run_one(t, &input);
                cases += 1;
                if let Err(reason) = result {
                    failure = Some(Failure { input, reason });
                    break;
                }
            }
            if let Ok(mut g) = current.lock() {
                *g = None;
            }
            total += cases;
            println!(
                "[{:>5.0}s] {:<18} {:>8} cases ({:>7.0}/s), {:>10} in all",
                start.elapsed().as_secs_f64(),
                t.name,
                cases,
                cases as f64 / slice.as_secs_f64(),
                total
            );
            match failure {
                Some(f) => {
                    let f = engine::shrink(t, f, Duration::from_secs(20));
                    report(&args.dir, t.name, &f);
                    failed = true;
                }
                None => still.push((t, gen, total)),
            }
        }
        active = still;
    }
    if failed {
        println!("rook-fuzz: failures found (see above)");
        ExitCode::FAILURE
    } else {
        println!("rook-fuzz: clean after {:?}", start.elapsed());
        ExitCode::SUCCESS
    }
}
