//! The `connect` scenario: N connectors each connect, shake hands, join (HELLO -> WELCOME) and
//! leave (GOODBYE), over and over; optionally watched by one more session subscribed to the
//! session meta events (`--meta-subscriber`).
//!
//! Owns: the connect results and the check of the meta events against the sessions. Never:
//! session lifecycle (the engine runs it).

use serde::Serialize;
use serde_json::json;

use super::{launch, Launch};
use crate::cli::{Common, ConnectArgs};
use crate::clock::secs_to_ns;
use crate::plot::PlotData;
use crate::report::{Outcome, Resources};
use crate::roles::meta::{Watcher, ON_JOIN, ON_LEAVE};
use crate::roles::Role;
use crate::stats::{fmt_rate, round3, Latency};

#[derive(Debug, Serialize)]
struct Results {
    sessions: u64,
    sessions_per_s: f64,
    failures: u64,
    failures_total: u64,
    failure_samples: Vec<String>,
    hello_welcome: Option<Latency>,
    connect_to_welcome: Option<Latency>,
    #[serde(flatten)]
    meta: Option<MetaResults>,
    #[serde(flatten)]
    resources: Resources,
}

/// With `--meta-subscriber`. Whole run: the watcher subscribed before the first connector
/// started and stayed until every connector had left and the events had arrived, so each session
/// established (warm-up, measured phase and drain alike) must have caused one event of each.
#[derive(Debug, Serialize)]
struct MetaResults {
    /// Sessions the connectors established (WELCOME received), whole run.
    sessions_total: u64,
    /// `wamp.session.on_join` events the watcher received.
    meta_on_join: u64,
    /// `wamp.session.on_leave` events the watcher received.
    meta_on_leave: u64,
    /// Both counts reached `sessions_total` before the drain timeout.
    meta_drained: bool,
}

/// Runs the scenario.
pub(crate) fn run(c: &Common, a: &ConnectArgs) -> anyhow::Result<Outcome> {
    let meta = a.meta_subscriber;
    let mut roles = Vec::with_capacity(a.clients + 1);
    if meta {
        roles.push(Role::MetaWatcher(Watcher::default()));
    }
    roles.extend((0..a.clients).map(|_| Role::Connector));
    let span = secs_to_ns(c.warmup + c.duration);
    // Connectors start with the run; the watcher at once, and the run waits for it.
    let running = launch(c, "connect", Launch { roles, windows: Vec::new(), start_at_run: true, ids: 0 }, span)?;
    if meta {
        running.wait_ready(1)?;
    }
    let m = running.measure(c, |l| {
        if meta {
            // Every connector gone, and an event of each kind for every session established.
            l.open == 1 && l.meta_joins >= l.received && l.meta_leaves >= l.received
        } else {
            l.open == 0
        }
    })?;
    let (stats, _) = running.finish()?;

    let counts = &stats.counts;
    let per_s = counts.sessions_measured as f64 / c.duration;
    let resources = Resources::between(&m.before, &m.after, c.duration, counts.sessions_measured, "session");
    let hello_welcome = Latency::of(&stats.hello_welcome);
    let join = Latency::of(&stats.join);
    let mut summary = vec![
        ("connectors".to_owned(), a.clients.to_string()),
        ("sessions".to_owned(), format!("{} ({})", counts.sessions_measured, fmt_rate(per_s))),
    ];
    if let Some(l) = &hello_welcome {
        summary.push(("HELLO->WELCOME".to_owned(), l.line()));
    }
    if let Some(l) = &join {
        summary.push(("connect->WELCOME".to_owned(), l.line()));
    }
    let first = stats.failure_samples.first().map(|f| format!(" (first: {f})")).unwrap_or_default();
    summary.push((
        "failures".to_owned(),
        format!("{} measured, {} whole run{first}", counts.failures_measured, counts.failures),
    ));
    let meta_results = meta.then_some(MetaResults {
        sessions_total: counts.sessions,
        meta_on_join: counts.meta_joins,
        meta_on_leave: counts.meta_leaves,
        meta_drained: m.drained,
    });
    if let Some(r) = &meta_results {
        summary.push((
            "meta events".to_owned(),
            format!(
                "on_join {}, on_leave {} for {} sessions (whole run){}",
                r.meta_on_join,
                r.meta_on_leave,
                r.sessions_total,
                if r.meta_drained { "" } else { ", drain timed out" }
            ),
        ));
    }
    resources.lines(&mut summary);

    let failed = if counts.sessions == 0 {
        Some(format!(
            "no session was established{}",
            stats.failure_samples.first().map(|f| format!(": {f}")).unwrap_or_default()
        ))
    } else {
        meta_results.as_ref().and_then(missing_meta_events)
    };
    let results = Results {
        sessions: counts.sessions_measured,
        sessions_per_s: round3(per_s),
        failures: counts.failures_measured,
        failures_total: counts.failures,
        failure_samples: stats.failure_samples.clone(),
        hello_welcome,
        connect_to_welcome: join,
        meta: meta_results,
        resources,
    };
    let mut params = json!({ "clients": a.clients });
    if let (true, Some(map)) = (meta, params.as_object_mut()) {
        map.insert("meta_subscriber".to_owned(), json!(true));
    }
    Ok(Outcome {
        scenario: "connect",
        params,
        results: serde_json::to_value(&results)?,
        summary,
        plot: c.plot.as_ref().map(|_| PlotData {
            title: format!(
                "connect x{}{}, {} {}, {}",
                a.clients,
                if meta { " + meta subscriber" } else { "" },
                c.label,
                c.ser,
                c.url
            ),
            latency_desc: "HELLO -> WELCOME",
            latency: stats.hello_welcome.clone(),
            sent: ("", Vec::new()),
            received: ("sessions/s", stats.received_bins.clone()),
            marks: m.marks,
        }),
        failed,
    })
}

/// Why the run fails if the watcher missed the meta events of some sessions.
fn missing_meta_events(r: &MetaResults) -> Option<String> {
    let short = |got: u64, topic: &str| {
        (got < r.sessions_total).then(|| format!("{got} {topic} events for {} sessions established", r.sessions_total))
    };
    match (short(r.meta_on_join, ON_JOIN), short(r.meta_on_leave, ON_LEAVE)) {
        (Some(j), Some(l)) => Some(format!("the router published too few meta events: {j}, {l}")),
        (Some(one), None) | (None, Some(one)) => Some(format!("the router published too few meta events: {one}")),
        (None, None) => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn fewer_meta_events_than_sessions_fail_the_run() {
        let r = |sessions_total, meta_on_join, meta_on_leave| MetaResults {
            sessions_total,
            meta_on_join,
            meta_on_leave,
            meta_drained: true,
        };
        assert_eq!(missing_meta_events(&r(10, 10, 10)), None);
        assert_eq!(missing_meta_events(&r(10, 11, 12)), None, "sessions whose WELCOME was lost still joined");
        let join = missing_meta_events(&r(10, 9, 10)).unwrap();
        assert!(join.contains("9 wamp.session.on_join events for 10") && !join.contains("on_leave"), "{join}");
        let both = missing_meta_events(&r(10, 0, 3)).unwrap();
        assert!(both.contains("0 wamp.session.on_join") && both.contains("3 wamp.session.on_leave"), "{both}");
    }
}
