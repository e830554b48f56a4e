//! End-to-end: the load generator binary against an in-process wampyard router, one short run
//! per scenario. Asserts correctness (no loss, no errors, the JSON record's shape), never speed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use wampyard::config::Config;
use wampyard::shard::{BoundAddr, Server};

/// Upper bound on one load-generator run; the runs below take 1-3 s.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A router on an ephemeral port, stopped when dropped.
struct Router {
    port: u16,
    server: Option<Server>,
}

impl Router {
    fn start(shards: usize) -> Router {
        let toml = format!(
            "[router]\nshards = {shards}\npin = false\nshutdown_timeout_ms = 1000\n\n\
             [[listener]]\nport = 0\n\n[[realm]]\nname = \"realm1\"\n"
        );
        let server = Server::start(&Config::from_toml_str(&toml).unwrap()).unwrap();
        let BoundAddr::Tcp(addr) = &server.addrs()[0] else { panic!("expected TCP") };
        Router { port: addr.port(), server: Some(server) }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
            let _ = s.join();
        }
    }
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("loadgen-e2e-{}-{name}", std::process::id()))
}

/// Runs the load generator with `args` (bounded in time) and returns its output.
fn loadgen(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wampyard-loadgen"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > RUN_TIMEOUT {
            child.kill().unwrap();
            panic!("loadgen {args:?} did not finish in {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Runs a scenario that must succeed and returns its JSON record.
fn run_ok(name: &str, url: &str, args: &[&str]) -> Value {
    let json = temp(&format!("{name}.jsonl"));
    let json_arg = json.to_str().unwrap().to_owned();
    let pid = std::process::id().to_string();
    let mut all = vec!["--url", url, "--duration", "1", "--warmup", "0.3", "--quiet", "--router-pid", &pid];
    all.extend(["--label", "wampyard-e2e", "--json", &json_arg]);
    all.extend(args);
    let out = loadgen(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "loadgen {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.starts_with("wampyard-loadgen "), "summary missing:\n{stdout}");
    let text = std::fs::read_to_string(&json).unwrap();
    std::fs::remove_file(&json).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON line per run");
    let record: Value = serde_json::from_str(text.trim()).unwrap();
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
        assert!(record.get(key).is_some(), "record lacks {key}: {record}");
    }
    assert_eq!(record["label"], "wampyard-e2e");
    let results = &record["results"];
    for key in ["router_cpu_s", "router_rss_kb_before", "router_rss_kb_after", "router_rss_kb_peak", "loadgen_cpu_s"] {
        assert!(results.get(key).is_some_and(|v| !v.is_null()), "results lack {key}: {results}");
    }
    record
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn assert_latency(l: &Value) {
    for key in ["count", "p50_us", "p90_us", "p99_us", "p99_9_us", "max_us"] {
        assert!(l.get(key).is_some(), "latency lacks {key}: {l}");
    }
    assert!(u(&l["count"]) > 0);
    assert!(l["p50_us"].as_f64().unwrap() <= l["max_us"].as_f64().unwrap());
}

#[test]
fn pubsub_closed_loop_one_to_four_across_two_shards_loses_nothing() {
    let router = Router::start(2);
    let url = format!("rs://127.0.0.1:{}", router.port);
    let plot = temp("pubsub.svg");
    let record = run_ok("pubsub-closed", &url, &["--plot", plot.to_str().unwrap(), "pubsub", "--subscribers", "4"]);
    let r = &record["results"];
    assert_eq!(record["scenario"], "pubsub");
    assert_eq!(record["serializer"], "msgpack");
    assert_eq!(record["params"]["subscribers"], 4);
    assert!(u(&r["published"]) > 0 && u(&r["deliveries"]) > 0, "{r}");
    assert_eq!(u(&r["lost"]), 0, "{r}");
    assert_eq!(u(&r["duplicated"]), 0, "{r}");
    assert_eq!(u(&r["expected_deliveries"]), u(&r["delivered"]), "{r}");
    assert!(u(&r["expected_deliveries"]) >= 4 * u(&r["published"]), "{r}");
    assert_latency(&r["latency"]);
    let svg = std::fs::read_to_string(&plot).unwrap();
    std::fs::remove_file(&plot).unwrap();
    assert!(svg.starts_with("<svg"));
}

#[test]
fn pubsub_open_loop_over_websocket_json_loses_nothing() {
    let router = Router::start(1);
    let url = format!("ws://127.0.0.1:{}/ws", router.port);
    let record =
        run_ok("pubsub-open", &url, &["--serializer", "json", "pubsub", "--subscribers", "2", "--rate", "2000"]);
    let r = &record["results"];
    assert_eq!(record["params"]["rate"], 2000.0);
    assert!(u(&r["published"]) > 0 && u(&r["deliveries"]) > 0, "{r}");
    assert_eq!(u(&r["lost"]), 0, "{r}");
    assert_eq!(u(&r["expected_deliveries"]), u(&r["delivered"]), "{r}");
    assert_eq!(r["offered_per_s"], 2000.0);
    assert!(r.get("saturated").is_some());
    assert_latency(&r["latency"]);
}

/// Checks a `pubsub --eligible` run: nothing reached the subscribers left out, nothing was lost.
fn assert_only_eligible_delivered(record: &Value, eligible: u64) {
    let (p, r) = (&record["params"], &record["results"]);
    assert_eq!(u(&p["eligible"]), eligible, "{p}");
    assert!(u(&r["published"]) > 0 && u(&r["deliveries"]) > 0, "{r}");
    assert_eq!(u(&r["ineligible_deliveries"]), 0, "{r}");
    assert_eq!(u(&r["lost"]), 0, "{r}");
    assert_eq!(u(&r["duplicated"]), 0, "{r}");
    assert_eq!(u(&r["unattributed"]), 0, "{r}");
    assert_eq!(u(&r["expected_deliveries"]), u(&r["delivered"]), "{r}");
    assert_latency(&r["latency"]);
}

#[test]
fn pubsub_eligible_list_reaches_only_the_named_subscribers() {
    let router = Router::start(2);
    // Closed loop over RawSocket, 2 of 6 subscribers named.
    let url = format!("rs://127.0.0.1:{}", router.port);
    let record = run_ok("pubsub-eligible-rs", &url, &["pubsub", "--subscribers", "6", "--eligible", "2"]);
    assert_only_eligible_delivered(&record, 2);
    // Expected deliveries are the events published (whole run) times the 2 named subscribers,
    // not the 6; `published` counts the measured phase only.
    let r = &record["results"];
    let (expected, published) = (u(&r["expected_deliveries"]), u(&r["published"]));
    assert!(expected % 2 == 0 && expected >= 2 * published && expected < 6 * published, "{r}");

    // Open loop over WebSocket with two topics, 3 of 6 named: publisher 0's topic has
    // subscribers 0 and 2 of them, publisher 1's topic subscriber 1.
    let url = format!("ws://127.0.0.1:{}/ws", router.port);
    let args = ["--serializer", "json", "pubsub", "--publishers", "2", "--topics", "2", "--subscribers", "6"];
    let record = run_ok("pubsub-eligible-ws", &url, &[&args[..], &["--eligible", "3", "--rate", "2000"]].concat());
    assert_only_eligible_delivered(&record, 3);
}

#[test]
fn pubsub_eligible_beyond_the_subscribers_is_refused() {
    let out = loadgen(&["pubsub", "--subscribers", "4", "--eligible", "5"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("wampyard-loadgen: --eligible 5 names more subscribers than there are"), "{stderr}");
}

#[test]
fn rpc_with_four_in_flight_answers_every_call() {
    let router = Router::start(1);
    let url = format!("rs://127.0.0.1:{}", router.port);
    let record = run_ok("rpc", &url, &["--serializer", "cbor", "rpc", "--in-flight", "4"]);
    let r = &record["results"];
    assert_eq!(record["params"]["in_flight"], 4);
    assert!(u(&r["calls"]) > 0, "{r}");
    assert_eq!(u(&r["errors"]), 0, "{r}");
    assert_eq!(u(&r["unanswered"]), 0, "{r}");
    assert_latency(&r["latency"]);
}

#[test]
fn rpc_progressive_results_arrive_n_per_call_before_the_final_one() {
    let router = Router::start(1);
    let rs = format!("rs://127.0.0.1:{}", router.port);
    let ws = format!("ws://127.0.0.1:{}/ws", router.port);
    for (name, url, ser) in [("rpc-progress-rs", &rs, "msgpack"), ("rpc-progress-ws", &ws, "json")] {
        let record = run_ok(name, url, &["--serializer", ser, "rpc", "--progress", "3", "--in-flight", "4"]);
        let r = &record["results"];
        assert_eq!(record["params"]["progress"], 3);
        let calls = u(&r["calls"]);
        assert!(calls > 0, "{r}");
        assert_eq!(u(&r["errors"]), 0, "{r}");
        assert_eq!(u(&r["progress_mismatches"]), 0, "{r}");
        assert_eq!(u(&r["progress_untracked"]), 0, "{r}");
        assert_eq!(u(&r["unanswered"]), 0, "{r}");
        assert_eq!(u(&r["progress_yields"]), 3 * u(&r["invocations"]), "{r}");
        // Counted by receive time like the calls: at each edge of the measured phase up to 4
        // calls in flight may have some of their progressive results inside it.
        let progress = u(&r["progress_results"]);
        assert!(progress.abs_diff(3 * calls) <= 2 * 3 * 4, "{progress} progressive results for {calls} calls");
        assert_eq!(r["msg_unit"], "result");
        assert_eq!(u(&r["msgs"]), calls + progress, "{r}");
        assert!(r["router_ns_per_call"].as_f64().is_some(), "{r}");
        assert_latency(&r["latency"]);
    }
}

#[test]
fn rpc_shared_registration_spreads_calls_over_every_callee() {
    let router = Router::start(2);
    let url = format!("rs://127.0.0.1:{}", router.port);
    let args = ["--serializer", "cbor", "rpc", "--shared", "3", "--callers", "2", "--in-flight", "4"];
    let record = run_ok("rpc-shared", &url, &args);
    let (p, r) = (&record["params"], &record["results"]);
    assert_eq!((&p["shared"], &p["invoke"], &p["callees"]), (&3.into(), &"roundrobin".into(), &3.into()));
    assert!(u(&r["calls"]) > 0, "{r}");
    assert_eq!(u(&r["errors"]), 0, "{r}");
    assert_eq!(u(&r["unanswered"]), 0, "{r}");
    let per: Vec<u64> = r["callee_invocations"].as_array().unwrap().iter().map(u).collect();
    assert_eq!(per.len(), 3, "{r}");
    assert_eq!(per.iter().sum::<u64>(), u(&r["invocations"]), "{r}");
    let (min, max) = (u(&r["callee_invocations_min"]), u(&r["callee_invocations_max"]));
    assert_eq!((min, max), (*per.iter().min().unwrap(), *per.iter().max().unwrap()));
    // Round robin keeps one cursor per calling shard (ARCHITECTURE.md): the calls made on each
    // shard are spread at most one apart, so with callers on two shards at most two apart.
    assert!(min > 0 && max - min <= 2, "round robin: {per:?}");

    // "first": one callee takes every invocation.
    let ws = format!("ws://127.0.0.1:{}/", router.port);
    let record = run_ok("rpc-shared-first", &ws, &["rpc", "--shared", "3", "--invoke", "first", "--in-flight", "4"]);
    let r = &record["results"];
    assert_eq!(record["params"]["invoke"], "first");
    assert_eq!(u(&r["errors"]), 0, "{r}");
    let per: Vec<u64> = r["callee_invocations"].as_array().unwrap().iter().map(u).collect();
    assert_eq!(per.iter().filter(|&&n| n > 0).count(), 1, "first: {per:?}");
    assert_eq!(u(&r["callee_invocations_max"]), u(&r["invocations"]), "{r}");
}

#[test]
fn connect_establishes_sessions_without_failures() {
    let router = Router::start(1);
    let url = format!("ws://127.0.0.1:{}/", router.port);
    let record = run_ok("connect", &url, &["connect", "--clients", "4"]);
    let r = &record["results"];
    assert!(u(&r["sessions"]) > 0, "{r}");
    assert_eq!(u(&r["failures_total"]), 0, "{r}");
    assert_latency(&r["hello_welcome"]);
    assert!(r.get("meta_on_join").is_none(), "{r}");
}

#[test]
fn connect_meta_subscriber_sees_one_join_and_one_leave_per_session() {
    let router = Router::start(2);
    let rs = format!("rs://127.0.0.1:{}", router.port);
    let ws = format!("ws://127.0.0.1:{}/", router.port);
    for (name, url, ser) in [("connect-meta-rs", &rs, "msgpack"), ("connect-meta-ws", &ws, "json")] {
        let args = ["--serializer", ser, "--threads", "2", "connect", "--clients", "4", "--meta-subscriber"];
        let record = run_ok(name, url, &args);
        let (p, r) = (&record["params"], &record["results"]);
        assert_eq!(p["meta_subscriber"], true, "{p}");
        let total = u(&r["sessions_total"]);
        assert!(u(&r["sessions"]) > 0 && total >= u(&r["sessions"]), "{r}");
        assert_eq!(u(&r["failures_total"]), 0, "{r}");
        // Nothing else joins this router: exactly one event of each kind per session.
        assert_eq!(u(&r["meta_on_join"]), total, "{r}");
        assert_eq!(u(&r["meta_on_leave"]), total, "{r}");
        assert_eq!(r["meta_drained"], true, "{r}");
        assert_latency(&r["hello_welcome"]);
    }
}

#[test]
fn idle_sessions_open_hold_and_close_cleanly() {
    let router = Router::start(1);
    let url = format!("rs://127.0.0.1:{}", router.port);
    let record = run_ok("idle", &url, &["--serializer", "json", "idle", "50", "--hold", "0.5"]);
    let r = &record["results"];
    assert_eq!(u(&r["sessions"]), 50, "{r}");
    assert_eq!(u(&r["unclean_closes"]), 0, "{r}");
    assert!(r.get("router_rss_bytes_per_session").is_some_and(|v| !v.is_null()), "{r}");
}

#[test]
fn unreachable_router_is_one_line_and_a_failure() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("rs://127.0.0.1:{port}");
    let out = loadgen(&["--url", &url, "pubsub", "--duration", "1"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr, format!("wampyard-loadgen: cannot connect to {url}: Connection refused\n"));
}

#[test]
fn contradictory_rpc_options_are_one_line_and_a_failure() {
    for args in [
        &["rpc", "--shared", "2", "--callees", "3"][..],
        &["rpc", "--invoke", "first"],
        &["rpc", "--shared", "2", "--invoke", "single"],
    ] {
        let out = loadgen(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("wampyard-loadgen: --"), "{stderr}");
    }
}

#[test]
fn bad_arguments_are_one_line_and_a_failure() {
    let out = loadgen(&["pubsub", "--serializer", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("wampyard-loadgen: ") && stderr.contains("xml"), "{stderr}");
}
