//! The `rpc` scenario: C callers, E echoing callees, closed loop (K in flight) or open loop.
//!
//! Owns: building the sessions and the rpc results. Never: per-call work (see `roles::rpc`).

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use super::{launch, Launch};
use crate::cli::{Common, RpcArgs};
use crate::clock::{secs_to_ns, NS_PER_US};
use crate::plot::PlotData;
use crate::report::{Outcome, Resources};
use crate::roles::rpc::{Callee, Caller};
use crate::roles::OpenLoop;
use crate::roles::Role;
use crate::stats::{fmt_rate, round3, Latency};

/// Below this share of the offered rate an open-loop run counts as saturated.
const SATURATION_RATIO: f64 = 0.98;

#[derive(Debug, Serialize)]
struct Results {
    calls: u64,
    calls_per_s: f64,
    sent: u64,
    offered_per_s: Option<f64>,
    achieved_ratio: Option<f64>,
    saturated: Option<bool>,
    errors: u64,
    unanswered: u64,
    invocations: u64,
    drained: bool,
    setup_s: f64,
    latency: Option<Latency>,
    #[serde(flatten)]
    resources: Resources,
}

/// Runs the scenario.
pub(crate) fn run(c: &Common, a: &RpcArgs) -> anyhow::Result<Outcome> {
    let (callers, callees) = (a.callers as usize, a.callees as usize);
    let filler: Arc<str> = c.filler().into();
    let mut roles = Vec::with_capacity(callers + callees);
    for k in 0..callers {
        let open = a.rate.map(|rate| OpenLoop::new(rate, callers, a.batch_us * NS_PER_US));
        roles.push(Role::Caller(Caller::new(k, k % callees, a.in_flight, open, filler.clone())));
    }
    for i in 0..callees {
        roles.push(Role::Callee(Callee::new(i)));
    }
    let span = secs_to_ns(c.warmup + c.duration);
    let running = launch(c, "rpc", Launch { roles, windows: Vec::new(), start_at_run: false }, span)?;
    let setup_s = running.wait_ready(callers + callees)?;
    let m = running.measure(c, |l| l.received + l.errors >= l.sent)?;
    let (stats, roles) = running.finish()?;

    let unanswered: u64 = roles.iter().map(|r| if let Role::Caller(c) = r { c.in_flight() } else { 0 }).sum();
    let counts = &stats.counts;
    let calls_per_s = counts.received_measured as f64 / c.duration;
    let sent_per_s = counts.sent_measured as f64 / c.duration;
    let achieved_ratio = a.rate.map(|r| round3(sent_per_s / r));
    let resources = Resources::between(&m.before, &m.after, c.duration, counts.received_measured, "call");
    let latency = Latency::of(&stats.latency);

    let mut summary = vec![
        ("sessions".to_owned(), format!("{callers} callers, {callees} callees, set up in {setup_s:.2} s")),
        (
            "mode".to_owned(),
            match a.rate {
                Some(r) => format!("open loop, offered {}", fmt_rate(r)),
                None => format!("closed loop, {} in flight per caller", a.in_flight),
            },
        ),
        ("calls".to_owned(), format!("{} ({})", counts.received_measured, fmt_rate(calls_per_s))),
    ];
    if let Some(ratio) = achieved_ratio {
        let sat = if ratio < SATURATION_RATIO { "  SATURATED: percentiles not comparable" } else { "" };
        summary.push(("achieved".to_owned(), format!("{:.1} % of offered{sat}", ratio * 100.0)));
    }
    if let Some(l) = &latency {
        summary.push(("round-trip time".to_owned(), l.line()));
    }
    summary.push((
        "errors (whole run)".to_owned(),
        format!("{} ERRORs, {} unanswered, {} malformed RESULTs", counts.errors, unanswered, counts.foreign),
    ));
    resources.lines(&mut summary);

    let failed = (counts.received == 0).then(|| "no call was answered".to_owned());
    let results = Results {
        calls: counts.received_measured,
        calls_per_s: round3(calls_per_s),
        sent: counts.sent_measured,
        offered_per_s: a.rate,
        achieved_ratio,
        saturated: achieved_ratio.map(|r| r < SATURATION_RATIO),
        errors: counts.errors,
        unanswered,
        invocations: counts.invocations,
        drained: m.drained,
        setup_s: round3(setup_s),
        latency,
        resources,
    };
    let params = json!({
        "callers": callers,
        "callees": callees,
        "in_flight": if a.rate.is_none() { Some(a.in_flight) } else { None },
        "rate": a.rate,
    });
    Ok(Outcome {
        scenario: "rpc",
        params,
        results: serde_json::to_value(&results)?,
        summary,
        plot: c.plot.as_ref().map(|_| PlotData {
            title: format!("rpc {callers}->{callees}, {} {}, {}", c.label, c.ser, c.url),
            latency_desc: "round-trip time",
            latency: stats.latency.clone(),
            sent: ("calls sent/s", stats.sent_bins.clone()),
            received: ("results/s", stats.received_bins.clone()),
            marks: m.marks,
        }),
        failed,
    })
}
