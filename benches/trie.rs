//! URI matching: `UriTrie::for_each_match` (the broker's rule, every matching subscription) and
//! `UriTrie::best_match` (the dealer's rule, one registration) on tries of 10k and 100k entries,
//! one group per population:
//!
//! * `trie_exact`: `com.app.sensor{i}.reading`, exact;
//! * `trie_prefix`: `com.app.sensor{i}`, prefix (a string prefix: `com.app.sensor1` also matches
//!   `com.app.sensor12.reading`, so a hit on sensor 12345 matches sensors 1, 12, 123, 1234 and
//!   12345);
//! * `trie_wildcard`: `com.{i}..x` plus `com.app..reading`, wildcard.
//!
//! Each iteration looks up [`QUERIES`] different URIs spread over the population, all hits or all
//! misses; throughput is one lookup per element.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wampyard::wamp::trie::UriTrie;
use wampyard::wamp::MatchPolicy;

/// Trie sizes measured.
const SIZES: [usize; 2] = [10_000, 100_000];

/// URIs looked up per iteration, spread over the population so the walk does not always touch
/// the same cached nodes.
const QUERIES: usize = 1000;

/// Warm-up per benchmark.
const WARM_UP: Duration = Duration::from_millis(300);

/// Measurement per benchmark: one iteration is a thousand lookups, so one second is plenty.
const MEASUREMENT: Duration = Duration::from_secs(1);

/// Samples per benchmark.
const SAMPLES: usize = 20;

/// One population: how entries are built, and the URIs that hit and miss.
struct Population {
    name: &'static str,
    policy: MatchPolicy,
    pattern: fn(usize) -> String,
    hit: fn(usize) -> String,
    miss: fn(usize) -> String,
}

const POPULATIONS: [Population; 3] = [
    Population {
        name: "trie_exact",
        policy: MatchPolicy::Exact,
        pattern: |i| format!("com.app.sensor{i}.reading"),
        hit: |i| format!("com.app.sensor{i}.reading"),
        miss: |i| format!("com.app.sensor{i}.missing"),
    },
    Population {
        name: "trie_prefix",
        policy: MatchPolicy::Prefix,
        pattern: |i| format!("com.app.sensor{i}"),
        hit: |i| format!("com.app.sensor{i}.reading"),
        miss: |i| format!("com.app.actuator{i}.reading"),
    },
    Population {
        name: "trie_wildcard",
        policy: MatchPolicy::Wildcard,
        pattern: |i| if i == 0 { "com.app..reading".to_string() } else { format!("com.{i}..x") },
        hit: |i| if i % 2 == 0 { format!("com.app.sensor{i}.reading") } else { format!("com.{i}.sensor.x") },
        miss: |i| if i % 2 == 0 { format!("com.app.sensor{i}.written") } else { format!("com.{i}.sensor.y") },
    },
];

fn build(pop: &Population, size: usize) -> UriTrie<usize> {
    let mut trie = UriTrie::new();
    for i in 0..size {
        trie.insert(&(pop.pattern)(i), pop.policy, i);
    }
    assert_eq!(trie.len(), size);
    trie
}

/// [`QUERIES`] URIs made by `make` from indices spread evenly over `0..size`.
fn queries(size: usize, make: fn(usize) -> String) -> Vec<String> {
    (0..QUERIES).map(|q| make(1 + q * (size - 1) / QUERIES)).collect()
}

fn matching(c: &mut Criterion) {
    for pop in &POPULATIONS {
        let mut group = c.benchmark_group(pop.name);
        group.throughput(Throughput::Elements(QUERIES as u64));
        for size in SIZES {
            let trie = build(pop, size);
            for (kind, make, hits) in [("hit", pop.hit, true), ("miss", pop.miss, false)] {
                let uris = queries(size, make);
                assert!(uris.iter().all(|u| trie.best_match(u).is_some() == hits), "{} {kind}", pop.name);
                group.bench_with_input(BenchmarkId::new(format!("for_each_match_{kind}"), size), &uris, |b, uris| {
                    b.iter(|| {
                        let mut found = 0usize;
                        for uri in uris {
                            trie.for_each_match(uri, |v| found += v);
                        }
                        black_box(found)
                    })
                });
                group.bench_with_input(BenchmarkId::new(format!("best_match_{kind}"), size), &uris, |b, uris| {
                    b.iter(|| {
                        let mut found = 0usize;
                        for uri in uris {
                            found += trie.best_match(uri).map_or(0, |(v, _)| *v);
                        }
                        black_box(found)
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = common::config(WARM_UP, MEASUREMENT, SAMPLES);
    targets = matching
}
criterion_main!(benches);
