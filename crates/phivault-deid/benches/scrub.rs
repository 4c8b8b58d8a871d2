//! Scrubber throughput: `cargo bench -p phivault-deid`. Reports bytes per second over the
//! development corpus's texts (about 300 KB of synthetic clinical notes).
#![allow(missing_docs, clippy::unwrap_used)] // a benchmark: failing loudly is right

use divan::counter::BytesCount;
use phivault_deid::Scrubber;

fn main() {
    divan::main();
}

fn corpus_text() -> String {
    let raw = include_str!("../tests/data/dev-corpus.jsonl");
    let mut out = String::new();
    for line in raw.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        out.push_str(v["text"].as_str().unwrap());
        out.push('\n');
    }
    out
}

#[divan::bench(sample_count = 20)]
fn scrub_dev_corpus(bencher: divan::Bencher) {
    let s = Scrubber::new().unwrap();
    let text = corpus_text();
    // Warm the lazily built automaton so the figures are steady-state throughput.
    s.scrub(&text);
    bencher
        .counter(BytesCount::of_str(text.as_str()))
        .bench_local(|| s.scrub(divan::black_box(&text)));
}

#[divan::bench(sample_count = 20)]
fn detect_dev_corpus(bencher: divan::Bencher) {
    let s = Scrubber::new().unwrap();
    let text = corpus_text();
    // Warm the lazily built automaton so the figures are steady-state throughput.
    s.scrub(&text);
    bencher
        .counter(BytesCount::of_str(text.as_str()))
        .bench_local(|| s.detect(divan::black_box(&text)));
}
