//! The `pubsub` scenario: P publishers, S subscribers, T topics, closed or open loop;
//! optionally with every event addressed to the first N subscribers only (`--eligible N`).
//!
//! Owns: building the sessions, the loss accounting from every subscriber's sequence trackers,
//! and the pubsub results. Never: per-event work (see `roles::pubsub`).

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use super::{launch_announcing, worker_of, Launch};
use crate::cli::{check_pubsub, Common, PubsubArgs};
use crate::clock::{secs_to_ns, NS_PER_US};
use crate::plot::PlotData;
use crate::report::{Outcome, Resources};
use crate::roles::pubsub::{Eligibility, Publisher, Subscriber, Window};
use crate::roles::OpenLoop;
use crate::roles::Role;
use crate::stats::{fmt_rate, round3, Latency};
use crate::wire::encode::Features;

/// Below this share of the offered rate an open-loop run counts as saturated.
const SATURATION_RATIO: f64 = 0.98;

#[derive(Debug, Serialize)]
struct Results {
    published: u64,
    published_per_s: f64,
    offered_per_s: Option<f64>,
    achieved_ratio: Option<f64>,
    saturated: Option<bool>,
    deliveries: u64,
    deliveries_per_s: f64,
    expected_deliveries: u64,
    delivered: u64,
    /// EVENTs received by subscribers outside the `eligible` list (0 without `--eligible`).
    ineligible_deliveries: u64,
    lost: u64,
    gaps: u64,
    duplicated: u64,
    out_of_order: u64,
    unattributed: u64,
    window_stalls: u64,
    drained: bool,
    setup_s: f64,
    latency: Option<Latency>,
    #[serde(flatten)]
    resources: Resources,
}

/// Runs the scenario.
pub(crate) fn run(c: &Common, a: &PubsubArgs) -> anyhow::Result<Outcome> {
    check_pubsub(a).map_err(anyhow::Error::msg)?;
    let (p, s, t) = (a.publishers as usize, a.subscribers as usize, a.topics as usize);
    // The subscribers that receive the events of a topic: with --eligible N those among the
    // first N, the only sessions every PUBLISH names.
    let receiving = a.receiving() as usize;
    let subs_on = |topic: usize| (topic..receiving).step_by(t).count();
    let listed = a.eligible.map_or(0, |n| n as usize);
    let filler: Arc<str> = c.filler().into();
    let closed = a.rate.is_none();
    let mut roles = Vec::with_capacity(p + s);
    for i in 0..p {
        let open = a.rate.map(|rate| OpenLoop::new(rate, p, a.batch_us * NS_PER_US));
        roles.push(Role::Publisher(Publisher::new(i, i % t, subs_on(i % t), open, filler.clone(), listed)));
    }
    for j in 0..s {
        let eligibility = match a.eligible {
            None => Eligibility::All,
            Some(_) if j < listed => Eligibility::Listed(j),
            Some(_) => Eligibility::Excluded,
        };
        roles.push(Role::Subscriber(Subscriber::new(j % t, t, p, closed, eligibility)));
    }
    let windows = if closed {
        (0..p)
            .map(|i| Window::new(a.window, u32::try_from(subs_on(i % t)).unwrap_or(u32::MAX), worker_of(i, c.threads)))
            .collect()
    } else {
        Vec::new()
    };
    let span = secs_to_ns(c.warmup + c.duration);
    let features = Features { subscriber_blackwhite_listing: a.eligible.is_some(), ..Features::default() };
    let launch = Launch { roles, windows, start_at_run: false, ids: listed };
    let running = launch_announcing(c, "pubsub", launch, span, features)?;
    let setup_s = running.wait_ready(p + s)?;
    let m = running.measure(c, |l| l.received >= l.expected)?;
    let (stats, roles) = running.finish()?;

    let mut published_on = vec![0u64; t];
    let (mut delivered, mut duplicated, mut out_of_order, mut gaps) = (0, 0, 0, 0);
    for role in &roles {
        match role {
            Role::Publisher(p) => published_on[p.topic_index()] += p.published(),
            Role::Subscriber(s) => {
                for tr in s.trackers() {
                    delivered += tr.unique;
                    duplicated += tr.duplicates;
                    out_of_order += tr.out_of_order;
                    gaps += tr.gaps;
                }
            }
            _ => {}
        }
    }
    let expected: u64 = published_on.iter().enumerate().map(|(k, n)| n * subs_on(k) as u64).sum();
    let lost = expected.saturating_sub(delivered);
    let counts = &stats.counts;
    let published_per_s = counts.sent_measured as f64 / c.duration;
    let deliveries_per_s = counts.received_measured as f64 / c.duration;
    let achieved_ratio = a.rate.map(|r| round3(published_per_s / r));
    let resources = Resources::between(&m.before, &m.after, c.duration, counts.received_measured, "delivery");
    let latency = Latency::of(&stats.latency);

    let listing = a.eligible.map(|n| format!(", events for the first {n} only (eligible)")).unwrap_or_default();
    let mut summary = vec![
        (
            "sessions".to_owned(),
            format!("{p} publishers, {s} subscribers{listing}, {t} topics, set up in {setup_s:.2} s"),
        ),
        (
            "mode".to_owned(),
            match a.rate {
                Some(r) => format!("open loop, offered {}", fmt_rate(r)),
                None => format!("closed loop, window {} events per publisher", a.window),
            },
        ),
        ("published".to_owned(), format!("{} ({})", counts.sent_measured, fmt_rate(published_per_s))),
    ];
    if let Some(ratio) = achieved_ratio {
        let sat = if ratio < SATURATION_RATIO { "  SATURATED: percentiles not comparable" } else { "" };
        summary.push(("achieved".to_owned(), format!("{:.1} % of offered{sat}", ratio * 100.0)));
    }
    summary.push(("deliveries".to_owned(), format!("{} ({})", counts.received_measured, fmt_rate(deliveries_per_s))));
    if let Some(l) = &latency {
        summary.push(("delivery latency".to_owned(), l.line()));
    }
    summary.push((
        "loss (whole run)".to_owned(),
        format!(
            "expected {expected}, delivered {delivered}, lost {lost} ({gaps} in gaps), duplicated {duplicated}, out of order {out_of_order}"
        ),
    ));
    if let Some(n) = a.eligible {
        summary.push((
            "eligible".to_owned(),
            format!("{n} of {s} subscribers named; {} events reached the others", counts.ineligible),
        ));
    }
    if counts.foreign > 0 || counts.window_stalls > 0 || !m.drained {
        summary.push((
            "anomalies".to_owned(),
            format!(
                "{} unattributed events, {} window stalls{}",
                counts.foreign,
                counts.window_stalls,
                if m.drained { "" } else { ", drain timed out" }
            ),
        ));
    }
    resources.lines(&mut summary);

    let failed = if counts.received == 0 {
        Some("no events were delivered".to_owned())
    } else if counts.ineligible > 0 {
        Some(format!(
            "{} events reached subscribers outside the eligible list: the router did not apply PUBLISH.Options.eligible",
            counts.ineligible
        ))
    } else {
        None
    };
    let results = Results {
        published: counts.sent_measured,
        published_per_s: round3(published_per_s),
        offered_per_s: a.rate,
        achieved_ratio,
        saturated: achieved_ratio.map(|r| r < SATURATION_RATIO),
        deliveries: counts.received_measured,
        deliveries_per_s: round3(deliveries_per_s),
        expected_deliveries: expected,
        delivered,
        ineligible_deliveries: counts.ineligible,
        lost,
        gaps,
        duplicated,
        out_of_order,
        unattributed: counts.foreign,
        window_stalls: counts.window_stalls,
        drained: m.drained,
        setup_s: round3(setup_s),
        latency,
        resources,
    };
    let mut params = json!({
        "publishers": p,
        "subscribers": s,
        "topics": t,
        "window": if closed { Some(a.window) } else { None },
        "rate": a.rate,
    });
    if let (Some(n), Some(map)) = (a.eligible, params.as_object_mut()) {
        map.insert("eligible".to_owned(), json!(n));
    }
    Ok(Outcome {
        scenario: "pubsub",
        params,
        results: serde_json::to_value(&results)?,
        summary,
        plot: c.plot.as_ref().map(|_| PlotData {
            title: format!("pubsub {p}->{s} ({t} topics{}), {} {}, {}", eligible_title(a), c.label, c.ser, c.url),
            latency_desc: "delivery latency",
            latency: stats.latency.clone(),
            sent: ("published/s", stats.sent_bins.clone()),
            received: ("deliveries/s", stats.received_bins.clone()),
            marks: m.marks,
        }),
        failed,
    })
}

/// `, eligible N` for plot titles, or nothing.
fn eligible_title(a: &PubsubArgs) -> String {
    a.eligible.map(|n| format!(", eligible {n}")).unwrap_or_default()
}
