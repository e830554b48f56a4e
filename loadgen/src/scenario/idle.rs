//! The `idle` scenario: open N sessions, each with one subscription to its own topic, hold
//! them, and measure the router's memory per session.
//!
//! Owns: the idle timing (setup, hold, close) and its results. Never: session lifecycle.

use serde::Serialize;
use serde_json::json;

use super::{launch, sample, Launch};
use crate::cli::{Common, IdleArgs};
use crate::clock::{now_ns, secs_to_ns};
use crate::report::{Outcome, Resources};
use crate::roles::Role;
use crate::stats::round3;
use crate::sysinfo;

/// File descriptors the load generator needs besides its sessions (epoll, eventfds, timerfds,
/// stdio, the result files).
const SPARE_FDS: u64 = 64;

#[derive(Debug, Serialize)]
struct Results {
    sessions: usize,
    setup_s: f64,
    setup_sessions_per_s: f64,
    hold_s: f64,
    router_rss_delta_kb: Option<i64>,
    router_rss_bytes_per_session: Option<f64>,
    unclean_closes: u64,
    #[serde(flatten)]
    resources: Resources,
}

/// Runs the scenario.
pub(crate) fn run(c: &Common, a: &IdleArgs) -> anyhow::Result<Outcome> {
    let n = a.sessions;
    let limit = sysinfo::nofile_limit();
    if n as u64 + SPARE_FDS > limit {
        anyhow::bail!("idle {n} needs about {} open files; the limit is {limit} (ulimit -n)", n as u64 + SPARE_FDS);
    }
    let before = sample(c.router_pid)?;
    let roles = (0..n).map(|i| Role::Idle(format!("idle.{i}"))).collect();
    let running =
        launch(c, "idle", Launch { roles, windows: Vec::new(), start_at_run: false, ids: 0 }, secs_to_ns(a.hold))?;
    let setup_s = running.wait_ready(n)?;
    let hold_end = now_ns() + secs_to_ns(a.hold);
    running.wait_until(hold_end, "holding")?;
    let after = sample(c.router_pid)?;
    let (stats, _) = running.finish()?;

    let delta = match (before.router.and_then(|r| r.rss_kb), after.router.and_then(|r| r.rss_kb)) {
        (Some(b), Some(a)) => Some(i64::try_from(a).unwrap_or(i64::MAX) - i64::try_from(b).unwrap_or(i64::MAX)),
        _ => None,
    };
    let per_session = delta.map(|d| round3(d as f64 * 1024.0 / n as f64));
    let mut resources = Resources::between(&before, &after, setup_s + a.hold, n as u64, "session");
    // Setting sessions up is not the router's per-message work: no loadgen-bound verdict.
    resources.loadgen_bound = None;
    let per_s = n as f64 / setup_s.max(1e-9);
    let mut summary = vec![
        ("sessions".to_owned(), format!("{n}, each HELLO + one SUBSCRIBE to its own topic")),
        ("setup".to_owned(), format!("{setup_s:.2} s ({per_s:.0} sessions/s)")),
        ("held".to_owned(), format!("{} s", a.hold)),
    ];
    if let (Some(d), Some(p)) = (delta, per_session) {
        summary.push(("router RSS delta".to_owned(), format!("{d} kB = {p:.0} bytes per session")));
    }
    if stats.counts.unclean_closes > 0 {
        summary.push(("unclean closes".to_owned(), stats.counts.unclean_closes.to_string()));
    }
    resources.lines(&mut summary);
    let results = Results {
        sessions: n,
        setup_s: round3(setup_s),
        setup_sessions_per_s: round3(per_s),
        hold_s: a.hold,
        router_rss_delta_kb: delta,
        router_rss_bytes_per_session: per_session,
        unclean_closes: stats.counts.unclean_closes,
        resources,
    };
    Ok(Outcome {
        scenario: "idle",
        params: json!({ "sessions": n, "hold_s": a.hold }),
        results: serde_json::to_value(&results)?,
        summary,
        plot: None,
        failed: None,
    })
}
