//! Results: the resource figures every scenario reports, the JSON record, the summary table.
//!
//! Owns: [`Resources`], [`Outcome`], the JSON line written with `--json`, and the text printed
//! on stdout. Never: measures anything itself.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::{json, Value};

use crate::cli::Common;
use crate::plot::PlotData;
use crate::stats::round3;
use crate::sysinfo::{Host, ProcSample};

/// A run is flagged "loadgen-bound" when the load generator spends more than this fraction of
/// the router's CPU per message: it then measures itself as much as the router.
const LOADGEN_BOUND_RATIO: f64 = 0.5;

/// CPU and memory figures taken at one moment by the main thread.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    /// The router's, with `--router-pid`.
    pub(crate) router: Option<ProcSample>,
    /// The load generator's own CPU time, ns.
    pub(crate) self_cpu_ns: u64,
}

/// What the router and the load generator spent in the measured phase.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Resources {
    /// Length of the measured phase, s.
    pub(crate) measured_s: f64,
    /// What one "message" is in the per-message figures.
    pub(crate) msg_unit: &'static str,
    /// Messages in the measured phase.
    pub(crate) msgs: u64,
    /// Router CPU time, s.
    pub(crate) router_cpu_s: Option<f64>,
    /// Router CPU per message, ns.
    pub(crate) router_ns_per_msg: Option<f64>,
    /// Router RSS at the start, kB.
    pub(crate) router_rss_kb_before: Option<u64>,
    /// Router RSS at the end, kB.
    pub(crate) router_rss_kb_after: Option<u64>,
    /// Router peak RSS (VmHWM) at the end, kB.
    pub(crate) router_rss_kb_peak: Option<u64>,
    /// Load-generator CPU time, s.
    pub(crate) loadgen_cpu_s: f64,
    /// Load-generator CPU per message, ns.
    pub(crate) loadgen_ns_per_msg: Option<f64>,
    /// Load generator spent more than half the router's CPU per message.
    pub(crate) loadgen_bound: Option<bool>,
}

impl Resources {
    /// The figures between two samples, for `msgs` messages of kind `unit`.
    pub(crate) fn between(
        before: &Sample,
        after: &Sample,
        measured_s: f64,
        msgs: u64,
        unit: &'static str,
    ) -> Resources {
        let per = |ns: u64| (msgs > 0).then(|| round3(ns as f64 / msgs as f64));
        let router_ns = match (before.router, after.router) {
            (Some(b), Some(a)) => Some(a.cpu_ns.saturating_sub(b.cpu_ns)),
            _ => None,
        };
        let loadgen_ns = after.self_cpu_ns.saturating_sub(before.self_cpu_ns);
        let router_per = router_ns.and_then(per);
        let loadgen_per = per(loadgen_ns);
        let loadgen_bound = match (router_per, loadgen_per) {
            (Some(r), Some(l)) => Some(l > LOADGEN_BOUND_RATIO * r),
            _ => None,
        };
        Resources {
            measured_s: round3(measured_s),
            msg_unit: unit,
            msgs,
            router_cpu_s: router_ns.map(|ns| round3(ns as f64 / 1e9)),
            router_ns_per_msg: router_per,
            router_rss_kb_before: before.router.and_then(|r| r.rss_kb),
            router_rss_kb_after: after.router.and_then(|r| r.rss_kb),
            router_rss_kb_peak: after.router.and_then(|r| r.hwm_kb),
            loadgen_cpu_s: round3(loadgen_ns as f64 / 1e9),
            loadgen_ns_per_msg: loadgen_per,
            loadgen_bound,
        }
    }

    /// Summary lines.
    pub(crate) fn lines(&self, out: &mut Vec<(String, String)>) {
        if let (Some(cpu), Some(per)) = (self.router_cpu_s, self.router_ns_per_msg) {
            out.push(("router CPU".into(), format!("{cpu:.2} s  ({per:.0} ns per {})", self.msg_unit)));
        } else if let Some(cpu) = self.router_cpu_s {
            out.push(("router CPU".into(), format!("{cpu:.2} s")));
        }
        if let (Some(b), Some(a)) = (self.router_rss_kb_before, self.router_rss_kb_after) {
            let peak = self.router_rss_kb_peak.map(|p| format!(", peak {p} kB")).unwrap_or_default();
            out.push(("router RSS".into(), format!("{b} kB -> {a} kB{peak}")));
        }
        let per = self.loadgen_ns_per_msg.map(|p| format!("  ({p:.0} ns per {})", self.msg_unit)).unwrap_or_default();
        out.push(("loadgen CPU".into(), format!("{:.2} s{per}", self.loadgen_cpu_s)));
        if self.loadgen_bound == Some(true) {
            out.push((
                "WARNING".into(),
                "loadgen-bound: the load generator used more than half the router's CPU per message".into(),
            ));
        }
    }
}

/// What a scenario produced.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// `pubsub`, `rpc`, `connect` or `idle`.
    pub(crate) scenario: &'static str,
    /// The scenario's parameters.
    pub(crate) params: Value,
    /// The scenario's results.
    pub(crate) results: Value,
    /// Lines for the summary table.
    pub(crate) summary: Vec<(String, String)>,
    /// Data for `--plot`.
    pub(crate) plot: Option<PlotData>,
    /// Set when the run completed but measured nothing useful: exit non-zero with this.
    pub(crate) failed: Option<String>,
}

/// The JSON record of one run.
pub(crate) fn record(c: &Common, host: &Host, command: &str, timestamp: &str, o: &Outcome) -> Value {
    json!({
        "timestamp": timestamp,
        "command": command,
        "git_commit": host.git_commit,
        "cpu_model": host.cpu_model,
        "kernel": host.kernel,
        "online_cores": host.online_cores,
        "label": c.label,
        "url": c.url,
        "serializer": c.ser.name(),
        "scenario": o.scenario,
        "params": common_params(c, &o.params),
        "duration_s": c.duration,
        "warmup_s": c.warmup,
        "results": o.results,
    })
}

fn common_params(c: &Common, scenario: &Value) -> Value {
    let mut p = json!({
        "realm": c.realm,
        "payload": c.payload,
        "threads": c.threads,
        "cpus": c.cpus,
        "router_pid": c.router_pid,
    });
    if let (Some(p), Some(s)) = (p.as_object_mut(), scenario.as_object()) {
        p.extend(s.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    p
}

/// Appends `record` as one line to `path`, creating its directory.
pub(crate) fn append_json(path: &Path, record: &Value) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    writeln!(f, "{record}").with_context(|| format!("cannot write {}", path.display()))
}

/// The summary table for stdout.
pub(crate) fn summary(c: &Common, o: &Outcome) -> String {
    let timing = if o.scenario == "idle" {
        String::new()
    } else {
        format!(" | measured {} s after {} s warm-up", c.duration, c.warmup)
    };
    let mut s = format!("wampyard-loadgen {} | {} at {} | {}{timing}\n", o.scenario, c.label, c.url, c.ser);
    let width = o.summary.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    for (k, v) in &o.summary {
        s.push_str(&format!("  {k:<width$}  {v}\n"));
    }
    s
}

/// The command line as typed, quoted where needed.
pub(crate) fn command_line() -> String {
    std::env::args()
        .map(|a| if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '"') { format!("{a:?}") } else { a })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Common};
    use clap::Parser as _;

    fn sample(router_cpu_ms: u64, self_cpu_ms: u64) -> Sample {
        Sample {
            router: Some(ProcSample { cpu_ns: router_cpu_ms * 1_000_000, rss_kb: Some(1000), hwm_kb: Some(2000) }),
            self_cpu_ns: self_cpu_ms * 1_000_000,
        }
    }

    #[test]
    fn per_message_cpu_and_the_loadgen_bound_flag() {
        let r = Resources::between(&sample(0, 0), &sample(1000, 400), 1.0, 1_000_000, "delivery");
        assert_eq!(r.router_ns_per_msg, Some(1000.0));
        assert_eq!(r.loadgen_ns_per_msg, Some(400.0));
        assert_eq!(r.loadgen_bound, Some(false));
        let r = Resources::between(&sample(0, 0), &sample(1000, 600), 1.0, 1_000_000, "delivery");
        assert_eq!(r.loadgen_bound, Some(true));
        let mut lines = Vec::new();
        r.lines(&mut lines);
        assert!(lines.iter().any(|(k, v)| k == "WARNING" && v.contains("loadgen-bound")));
        let none = Resources::between(
            &Sample { router: None, self_cpu_ns: 0 },
            &Sample { router: None, self_cpu_ns: 5 },
            1.0,
            0,
            "call",
        );
        assert_eq!((none.router_cpu_s, none.loadgen_ns_per_msg, none.loadgen_bound), (None, None, None));
    }

    #[test]
    fn record_has_the_documented_fields() {
        let c =
            Common::from_args(Cli::try_parse_from(["lg", "--label", "crossbar", "rpc"]).unwrap().common, 2).unwrap();
        let host =
            Host { cpu_model: Some("cpu".into()), kernel: Some("6.1".into()), online_cores: 2, git_commit: None };
        let o = Outcome {
            scenario: "rpc",
            params: json!({"callers": 1}),
            results: json!({"calls": 5}),
            summary: vec![("calls".into(), "5".into())],
            plot: None,
            failed: None,
        };
        let r = record(&c, &host, "lg rpc", "2024-01-01T00:00:00.000Z", &o);
        for key in [
            "timestamp",
            "command",
            "git_commit",
            "cpu_model",
            "kernel",
            "online_cores",
            "label",
            "url",
            "serializer",
            "scenario",
            "params",
            "duration_s",
            "warmup_s",
            "results",
        ] {
            assert!(r.get(key).is_some(), "missing {key}");
        }
        assert_eq!(r["label"], "crossbar");
        assert_eq!(r["git_commit"], Value::Null);
        assert_eq!(r["params"]["callers"], 1);
        assert_eq!(r["params"]["payload"], 100);
        assert!(summary(&c, &o).contains("  calls  5\n"));
    }

    #[test]
    fn json_lines_are_appended_and_directories_created() {
        let dir = std::env::temp_dir().join(format!("loadgen-report-{}", std::process::id()));
        let path = dir.join("a/b/results.jsonl");
        append_json(&path, &json!({"n": 1})).unwrap();
        append_json(&path, &json!({"n": 2})).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"n\":1}\n{\"n\":2}\n");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
