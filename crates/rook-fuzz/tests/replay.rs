//! The fuzz corpus as regression tests: every seed and every once-failing
//! input under `fuzz/` is replayed through its target, and each target runs
//! a few hundred generated cases from a fixed seed (cheap, deterministic).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rook_fuzz::engine::{self, Generator};

const CASES: u64 = 200;

fn replay_and_run(name: &str) {
    let target = rook_fuzz::target(name).unwrap();
    let dir = rook_fuzz::default_dir();
    let seeds = engine::seeds(&dir, name).unwrap();
    let corpus = engine::corpus(&dir, name).unwrap();
    assert!(!seeds.is_empty(), "{name}: no seeds in fuzz/seeds/{name}/");
    let mut failures = Vec::new();
    for (path, input) in seeds.iter().chain(&corpus) {
        if let Err(reason) = engine::run_one(target, input) {
            failures.push(format!("{}: {reason}", path.display()));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    let inputs = seeds.into_iter().chain(corpus).map(|(_, b)| b).collect();
    let mut gen = Generator::new(target, inputs, 0x5eed_0000 + name.len() as u64);
    if let Some(f) = engine::run_cases(&mut gen, CASES) {
        panic!(
            "{name}: {}\ninput: {:?}",
            f.reason,
            String::from_utf8_lossy(&f.input)
        );
    }
}

macro_rules! targets {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay_and_run(stringify!($name));
            }
        )*

        #[test]
        fn every_target_is_tested_here() {
            let here = [$(stringify!($name)),*];
            for t in rook_fuzz::targets() {
                assert!(here.contains(&t.name), "{} is not replayed", t.name);
            }
        }
    };
}

targets!(
    probe,
    sse,
    usage_filter,
    passthrough,
    chat_request,
    messages_request,
    embeddings,
    anthropic_response,
    gemini_response,
    chat_response,
    anthropic_stream,
    gemini_stream,
    chat_stream,
    classify,
    answer,
    config,
    retry_after,
);
