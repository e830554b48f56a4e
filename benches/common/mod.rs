//! Settings shared by every benchmark: criterion's timing per benchmark, and HTML plots only on
//! request.
//!
//! Owns: [`config`]. Never: anything measured.

use std::time::Duration;

use criterion::Criterion;

/// Set (to anything) to make criterion draw its HTML plots under `target/criterion/`. Off by
/// default: on a 2-core machine the plotters backend takes about 3 s per benchmark, more than
/// the measurement itself.
pub(crate) const PLOTS_ENV: &str = "WAMPYARD_BENCH_PLOTS";

/// Criterion with the given warm-up, measurement time and sample count per benchmark; command
/// line options (`--measurement-time`, `--sample-size`, `--warm-up-time`) still override them.
pub(crate) fn config(warm_up: Duration, measurement: Duration, samples: usize) -> Criterion {
    let c = Criterion::default().warm_up_time(warm_up).measurement_time(measurement).sample_size(samples);
    if std::env::var_os(PLOTS_ENV).is_some() {
        c
    } else {
        c.without_plots()
    }
}
