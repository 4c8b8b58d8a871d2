//! Drives a running vault with N concurrent HTTPS clients creating ~1 KB records for T
//! seconds and prints creates per second and latency percentiles.
//!
//! `cargo run --release -p phivault-testkit --example create_load -- URL TOKEN CA_PEM [CLIENTS] [SECONDS]`
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use phivault_api::Collection;
use phivault_client::Client;
use phivault_testkit::synthetic::{Synth, patient_schema};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (url, token, ca) = (&args[1], &args[2], std::fs::read(&args[3]).unwrap());
    let clients: usize = args.get(4).map_or(32, |s| s.parse().unwrap());
    let seconds: u64 = args.get(5).map_or(10, |s| s.parse().unwrap());
    let admin = Client::new(url, Some(token.clone()), &ca).unwrap();
    let name = format!("load_{}", std::process::id());
    let schema: Collection = serde_json::from_value(patient_schema(&name)).unwrap();
    admin.create_collection(&schema).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for i in 0..clients {
        let c = Client::new(url, Some(token.clone()), &ca).unwrap();
        let name = name.clone();
        tasks.push(tokio::spawn(async move {
            let mut synth = Synth::new(i as u64);
            let mut lat = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let p = synth.patient_of_size(1024);
                let t = Instant::now();
                c.create_record(&name, &format!("subj-{i}-{}", n % 50), p)
                    .await
                    .unwrap();
                lat.push(t.elapsed());
                n += 1;
            }
            lat
        }));
    }
    let start = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "{{\"clients\":{clients},\"seconds\":{elapsed:.1},\"creates\":{},\"creates_per_sec\":{:.0},\"p50_ms\":{:.2},\"p95_ms\":{:.2},\"p99_ms\":{:.2}}}",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.95).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
    );
}
