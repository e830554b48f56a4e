//! The `rpc` scenario: C callers, E echoing callees, closed loop (K in flight) or open loop;
//! optionally with progressive results (`--progress N`) or one registration shared by the
//! callees (`--shared K`).
//!
//! Owns: building the sessions and the rpc results. Never: per-call work (see `roles::rpc`).

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use super::{launch_announcing, Launch, DRAIN_TIMEOUT_NS};
use crate::cli::{check_rpc, Common, RpcArgs};
use crate::clock::{secs_to_ns, NS_PER_S, NS_PER_US};
use crate::plot::PlotData;
use crate::report::{Outcome, Resources};
use crate::roles::rpc::{procedure_uri, Callee, Caller, ProgressCheck, SHARED_PROCEDURE};
use crate::roles::OpenLoop;
use crate::roles::Role;
use crate::stats::{fmt_rate, round3, Latency};
use crate::wire::encode::Features;

/// Below this share of the offered rate an open-loop run counts as saturated.
const SATURATION_RATIO: f64 = 0.98;

/// Most per-callee counts listed in the summary table (the JSON record has them all).
const LISTED_CALLEES: usize = 16;

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
    progress: Option<ProgressResults>,
    #[serde(flatten)]
    shared: Option<SharedResults>,
    #[serde(flatten)]
    resources: Resources,
}

/// With `--progress`.
#[derive(Debug, Serialize)]
struct ProgressResults {
    /// Progressive RESULTs received in the measured phase (by receive time, like `calls`).
    progress_results: u64,
    /// Calls whose final RESULT followed another number of progressive RESULTs than asked
    /// (whole run; also counted in `errors`).
    progress_mismatches: u64,
    /// Calls whose progressive RESULTs could not be checked (whole run).
    progress_untracked: u64,
    /// Progressive YIELDs the callees sent (whole run).
    progress_yields: u64,
    /// Router CPU per call (the per-message figures are per RESULT).
    router_ns_per_call: Option<f64>,
}

/// With `--shared`.
#[derive(Debug, Serialize)]
struct SharedResults {
    /// INVOCATIONs each callee answered, whole run, in callee order.
    callee_invocations: Vec<u64>,
    callee_invocations_min: u64,
    callee_invocations_max: u64,
}

/// Ring size for the per-call progress check: the calls one caller may have in flight.
fn progress_capacity(a: &RpcArgs, callers: usize) -> usize {
    match a.rate {
        // A drain's worth of calls at this caller's share of the rate.
        Some(rate) => (rate / callers as f64 * (DRAIN_TIMEOUT_NS / NS_PER_S) as f64).min(usize::MAX as f64) as usize,
        None => usize::try_from(a.in_flight).unwrap_or(usize::MAX),
    }
}

/// Runs the scenario.
pub(crate) fn run(c: &Common, a: &RpcArgs) -> anyhow::Result<Outcome> {
    check_rpc(a).map_err(anyhow::Error::msg)?;
    let (callers, callees) = (a.callers as usize, a.callees() as usize);
    let invoke = a.invoke().map(|i| i.as_str());
    let procedure = |i: usize| if a.shared.is_some() { SHARED_PROCEDURE.to_owned() } else { procedure_uri(i) };
    let filler: Arc<str> = c.filler().into();
    let mut roles = Vec::with_capacity(callers + callees);
    for k in 0..callers {
        let open = a.rate.map(|rate| OpenLoop::new(rate, callers, a.batch_us * NS_PER_US));
        let check = (a.progress > 0).then(|| ProgressCheck::new(a.progress, progress_capacity(a, callers)));
        roles.push(Role::Caller(Caller::new(k, procedure(k % callees), a.in_flight, open, filler.clone(), check)));
    }
    for i in 0..callees {
        roles.push(Role::Callee(Callee::new(i, procedure(i), invoke, a.progress)));
    }
    let span = secs_to_ns(c.warmup + c.duration);
    let features = Features {
        progressive_call_results: a.progress > 0,
        shared_registration: a.shared.is_some(),
        ..Features::default()
    };
    let launch = Launch { roles, windows: Vec::new(), start_at_run: false, ids: 0 };
    let running = launch_announcing(c, "rpc", launch, span, features)?;
    let setup_s = running.wait_ready(callers + callees)?;
    let m = running.measure(c, |l| l.received + l.errors >= l.sent)?;
    let (stats, roles) = running.finish()?;

    let unanswered: u64 = roles.iter().map(|r| if let Role::Caller(c) = r { c.in_flight() } else { 0 }).sum();
    let mut per_callee: Vec<(usize, u64)> = roles
        .iter()
        .filter_map(|r| if let Role::Callee(c) = r { Some((c.index, c.invocations())) } else { None })
        .collect();
    per_callee.sort_unstable();
    let counts = &stats.counts;
    let calls_per_s = counts.received_measured as f64 / c.duration;
    let sent_per_s = counts.sent_measured as f64 / c.duration;
    let achieved_ratio = a.rate.map(|r| round3(sent_per_s / r));
    // With progressive results a "message" is any RESULT the router sent: calls x (N + 1).
    let resources = if a.progress > 0 {
        let results = counts.received_measured + counts.progress_results_measured;
        Resources::between(&m.before, &m.after, c.duration, results, "result")
    } else {
        Resources::between(&m.before, &m.after, c.duration, counts.received_measured, "call")
    };
    let latency = Latency::of(&stats.latency);
    let errors = counts.errors + counts.progress_mismatches;

    let sessions = match (a.shared, invoke) {
        (Some(_), Some(policy)) => {
            format!("{callers} callers, {callees} callees sharing {SHARED_PROCEDURE} ({policy})")
        }
        _ => format!("{callers} callers, {callees} callees"),
    };
    let mut summary = vec![
        ("sessions".to_owned(), format!("{sessions}, set up in {setup_s:.2} s")),
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
    if a.progress > 0 {
        let per_call = if counts.received_measured > 0 {
            format!("{:.2}", counts.progress_results_measured as f64 / counts.received_measured as f64)
        } else {
            "-".to_owned()
        };
        summary.push((
            "progress results".to_owned(),
            format!(
                "{} ({per_call} per call, {} asked); {} calls with another count, {} unchecked",
                counts.progress_results_measured, a.progress, counts.progress_mismatches, counts.progress_untracked
            ),
        ));
    }
    if let Some(l) = &latency {
        let what = if a.progress > 0 { "round-trip time (to the final RESULT)" } else { "round-trip time" };
        summary.push((what.to_owned(), l.line()));
    }
    if a.shared.is_some() {
        let list = per_callee.iter().take(LISTED_CALLEES).map(|(_, n)| n.to_string()).collect::<Vec<_>>().join(" ");
        let more = if per_callee.len() > LISTED_CALLEES { " ..." } else { "" };
        let (min, max) = min_max(&per_callee);
        summary.push(("invocations per callee".to_owned(), format!("min {min}  max {max}  [{list}{more}]")));
    }
    let mut error_line =
        format!("{} ERRORs, {} unanswered, {} malformed RESULTs", counts.errors, unanswered, counts.foreign);
    if a.progress > 0 {
        error_line.push_str(&format!(", {} progress mismatches", counts.progress_mismatches));
    }
    summary.push(("errors (whole run)".to_owned(), error_line));
    if a.progress > 0 && counts.received > 0 && counts.progress_results == 0 {
        summary.push((
            "WARNING".to_owned(),
            "no progressive RESULT arrived: does the router support progressive call results?".to_owned(),
        ));
    }
    resources.lines(&mut summary);
    // From the per-RESULT figure, which is not rounded to milliseconds as router_cpu_s is.
    let router_ns_per_call = resources.router_ns_per_msg.and_then(|per| {
        (counts.received_measured > 0).then(|| round3(per * resources.msgs as f64 / counts.received_measured as f64))
    });
    if let (true, Some(per)) = (a.progress > 0, router_ns_per_call) {
        let at = summary.iter().position(|(k, _)| k == "router CPU").map_or(summary.len(), |i| i + 1);
        summary.insert(at, ("router CPU per call".to_owned(), format!("{per:.0} ns")));
    }

    let failed = (counts.received == 0).then(|| "no call was answered".to_owned());
    let progress = (a.progress > 0).then_some(ProgressResults {
        progress_results: counts.progress_results_measured,
        progress_mismatches: counts.progress_mismatches,
        progress_untracked: counts.progress_untracked,
        progress_yields: counts.progress_yields,
        router_ns_per_call,
    });
    let shared = a.shared.map(|_| {
        let (min, max) = min_max(&per_callee);
        SharedResults {
            callee_invocations: per_callee.iter().map(|&(_, n)| n).collect(),
            callee_invocations_min: min,
            callee_invocations_max: max,
        }
    });
    let results = Results {
        calls: counts.received_measured,
        calls_per_s: round3(calls_per_s),
        sent: counts.sent_measured,
        offered_per_s: a.rate,
        achieved_ratio,
        saturated: achieved_ratio.map(|r| r < SATURATION_RATIO),
        errors,
        unanswered,
        invocations: counts.invocations,
        drained: m.drained,
        setup_s: round3(setup_s),
        latency,
        progress,
        shared,
        resources,
    };
    let mut params = json!({
        "callers": callers,
        "callees": callees,
        "in_flight": if a.rate.is_none() { Some(a.in_flight) } else { None },
        "rate": a.rate,
    });
    if let Some(p) = params.as_object_mut() {
        if a.progress > 0 {
            p.insert("progress".to_owned(), json!(a.progress));
        }
        if let (Some(k), Some(policy)) = (a.shared, invoke) {
            p.insert("shared".to_owned(), json!(k));
            p.insert("invoke".to_owned(), json!(policy));
        }
    }
    let mut title = format!("rpc {callers}->{callees}");
    if a.progress > 0 {
        title.push_str(&format!(" progress {}", a.progress));
    }
    if let Some(policy) = invoke {
        title.push_str(&format!(" shared {policy}"));
    }
    Ok(Outcome {
        scenario: "rpc",
        params,
        results: serde_json::to_value(&results)?,
        summary,
        plot: c.plot.as_ref().map(|_| PlotData {
            title: format!("{title}, {} {}, {}", c.label, c.ser, c.url),
            latency_desc: "round-trip time",
            latency: stats.latency.clone(),
            sent: ("calls sent/s", stats.sent_bins.clone()),
            received: (if a.progress > 0 { "final results/s" } else { "results/s" }, stats.received_bins.clone()),
            marks: m.marks,
        }),
        failed,
    })
}

/// The smallest and largest count, (0, 0) for none.
fn min_max(per_callee: &[(usize, u64)]) -> (u64, u64) {
    let min = per_callee.iter().map(|&(_, n)| n).min().unwrap_or(0);
    let max = per_callee.iter().map(|&(_, n)| n).max().unwrap_or(0);
    (min, max)
}
