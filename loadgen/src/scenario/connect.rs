//! The `connect` scenario: N connectors each connect, shake hands, join (HELLO -> WELCOME) and
//! leave (GOODBYE), over and over.
//!
//! Owns: the connect results. Never: session lifecycle (the engine runs it).

use serde::Serialize;
use serde_json::json;

use super::{launch, Launch};
use crate::cli::{Common, ConnectArgs};
use crate::clock::secs_to_ns;
use crate::plot::PlotData;
use crate::report::{Outcome, Resources};
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
    resources: Resources,
}

/// Runs the scenario.
pub(crate) fn run(c: &Common, a: &ConnectArgs) -> anyhow::Result<Outcome> {
    let roles = (0..a.clients).map(|_| Role::Connector).collect();
    let span = secs_to_ns(c.warmup + c.duration);
    let running = launch(c, "connect", Launch { roles, windows: Vec::new(), start_at_run: true }, span)?;
    let m = running.measure(c, |l| l.open == 0)?;
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
    resources.lines(&mut summary);

    let failed = (counts.sessions == 0).then(|| {
        format!(
            "no session was established{}",
            stats.failure_samples.first().map(|f| format!(": {f}")).unwrap_or_default()
        )
    });
    let results = Results {
        sessions: counts.sessions_measured,
        sessions_per_s: round3(per_s),
        failures: counts.failures_measured,
        failures_total: counts.failures,
        failure_samples: stats.failure_samples.clone(),
        hello_welcome,
        connect_to_welcome: join,
        resources,
    };
    Ok(Outcome {
        scenario: "connect",
        params: json!({ "clients": a.clients }),
        results: serde_json::to_value(&results)?,
        summary,
        plot: c.plot.as_ref().map(|_| PlotData {
            title: format!("connect x{}, {} {}, {}", a.clients, c.label, c.ser, c.url),
            latency_desc: "HELLO -> WELCOME",
            latency: stats.hello_welcome.clone(),
            sent: ("", Vec::new()),
            received: ("sessions/s", stats.received_bins.clone()),
            marks: m.marks,
        }),
        failed,
    })
}
