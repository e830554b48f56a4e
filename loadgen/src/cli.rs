//! The command line: common options, the four scenarios and their options, and checks.
//!
//! Owns: [`Cli`] (clap), `--cpus` list parsing, and the validated [`Common`] settings. Never:
//! runs anything.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use wampyard::codec::Serializer;

use crate::target::{self, Target, DEFAULT_URL};

/// Default measured duration, seconds.
const DEFAULT_DURATION_S: f64 = 10.0;

/// Default warm-up, seconds: connection buffers and the router's allocator settle; excluded.
const DEFAULT_WARMUP_S: f64 = 2.0;

/// Default application payload per event or call: the size the performance anchors use.
const DEFAULT_PAYLOAD: usize = 100;

/// Largest `--payload`: leaves room for the message head under a 1 MiB router limit.
const MAX_PAYLOAD: usize = 1_000_000;

/// Default closed-loop window per publisher: deep enough that the router's batching, not the
/// round trip, limits throughput.
const DEFAULT_WINDOW: usize = 1000;
/// Open loop: messages due within this many microseconds go in one write, and the wait counts
/// as latency. Small against the latencies measured (a 1 ms p99 target); large enough that
/// neither the load generator nor the router pays a write per message at hundreds of thousands
/// of messages per second (at 288k calls/s, 20 µs left a wampyard shard 95 % busy and 100 µs
/// 75 %).
const DEFAULT_BATCH_US: u64 = 100;

/// Most publishers: their index must fit the top bits of the `seq` argument.
const MAX_PUBLISHERS: usize = 1 << 21;

/// Most progressive results per call: a callee writes them all at once for each invocation.
const MAX_PROGRESS: u64 = 10_000;

/// Default concurrent connectors for `connect`.
const DEFAULT_CLIENTS: usize = 8;

/// Default hold time for `idle`, seconds.
const DEFAULT_HOLD_S: f64 = 5.0;

/// Load generator for WAMP routers (RawSocket and WebSocket; JSON, MessagePack, CBOR).
#[derive(Debug, Parser)]
#[command(name = "wampyard-loadgen", version, about, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    #[command(subcommand)]
    pub(crate) scenario: Scenario,
}

/// Options every scenario takes, before or after the scenario name.
#[derive(Debug, Args)]
pub(crate) struct CommonArgs {
    /// rs://HOST:PORT (RawSocket/TCP), rs+unix:///PATH or ws://HOST:PORT/PATH
    #[arg(long, global = true, default_value = DEFAULT_URL)]
    pub(crate) url: String,
    /// json, msgpack or cbor
    #[arg(long, global = true, default_value = "msgpack", value_parser = parse_serializer)]
    pub(crate) serializer: Serializer,
    /// Realm to join
    #[arg(long, global = true, default_value = "realm1")]
    pub(crate) realm: String,
    /// Measured phase, seconds (fractional allowed)
    #[arg(long, global = true, default_value_t = DEFAULT_DURATION_S, value_parser = parse_secs)]
    pub(crate) duration: f64,
    /// Warm-up before the measured phase, seconds (excluded from results)
    #[arg(long, global = true, default_value_t = DEFAULT_WARMUP_S, value_parser = parse_secs)]
    pub(crate) warmup: f64,
    /// Application payload per event or call, bytes: Arguments are [send_ts, seq, filler] with
    /// a filler string of PAYLOAD-16 bytes (16 = the two 64-bit numbers)
    #[arg(long, global = true, default_value_t = DEFAULT_PAYLOAD)]
    pub(crate) payload: usize,
    /// CPUs to pin load-generator threads to, round-robin (e.g. 1 or 1,3 or 2-3)
    #[arg(long, global = true, value_parser = parse_cpu_list)]
    pub(crate) cpus: Option<CpuList>,
    /// Load-generator threads (default: number of --cpus, else 1)
    #[arg(long, global = true)]
    pub(crate) threads: Option<usize>,
    /// Router process to read CPU time and memory of, from /proc
    #[arg(long = "router-pid", global = true)]
    pub(crate) router_pid: Option<u32>,
    /// Name of the router under test, recorded in the result
    #[arg(long, global = true, default_value = "router")]
    pub(crate) label: String,
    /// Append the result as one JSON line to FILE (directories are created)
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Write an SVG with the latency distribution and throughput over time
    #[arg(long, global = true, value_name = "FILE.svg")]
    pub(crate) plot: Option<PathBuf>,
    /// No progress line
    #[arg(long, global = true)]
    pub(crate) quiet: bool,
    /// Spin on the sockets instead of sleeping between events: takes the load generator's own
    /// wake-up time out of latency figures, at the price of a busy core
    #[arg(long, global = true)]
    pub(crate) busy_poll: bool,
}

/// The scenarios.
#[derive(Debug, Subcommand)]
pub(crate) enum Scenario {
    /// Publishers -> subscribers: events/s, deliveries/s, delivery latency, loss
    Pubsub(PubsubArgs),
    /// Callers -> callees (echo): calls/s and round-trip time
    Rpc(RpcArgs),
    /// Connect, join and leave again and again: sessions/s and HELLO->WELCOME latency
    Connect(ConnectArgs),
    /// Open N sessions with one subscription each and hold them: router memory per session
    Idle(IdleArgs),
}

/// `pubsub` options.
#[derive(Debug, Args)]
pub(crate) struct PubsubArgs {
    /// Publishing sessions
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) publishers: u64,
    /// Subscribing sessions
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) subscribers: u64,
    /// Topics: publisher i publishes to topic i % T, subscriber j subscribes to topic j % T
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) topics: u64,
    /// Closed loop: most events per publisher not yet received by every subscriber
    #[arg(long, default_value_t = DEFAULT_WINDOW, conflicts_with = "rate")]
    pub(crate) window: usize,
    /// Open loop: total events per second, paced evenly across publishers
    #[arg(long, value_parser = parse_rate)]
    pub(crate) rate: Option<f64>,
    /// Open loop: send the events due within this many µs in one write (0: each on its own);
    /// latency still counts from each event's scheduled time
    #[arg(long = "batch-us", default_value_t = DEFAULT_BATCH_US, requires = "rate")]
    pub(crate) batch_us: u64,
    /// Subscriber black/whitelisting: every PUBLISH carries Options.eligible, the session ids of
    /// subscribers 0..N; only they should receive events, and an event any other subscriber
    /// receives fails the run
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) eligible: Option<u64>,
}

impl PubsubArgs {
    /// Subscribers expected to receive events: `--eligible`, else all.
    pub(crate) fn receiving(&self) -> u64 {
        self.eligible.unwrap_or(self.subscribers)
    }
}

/// `rpc` options.
#[derive(Debug, Args)]
pub(crate) struct RpcArgs {
    /// Calling sessions
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) callers: u64,
    /// Callee sessions; callee i registers proc.{i}, caller k calls proc.{k % E} [default: 1;
    /// with --shared K: K, and if given it must be K]
    #[arg(long, value_name = "E", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) callees: Option<u64>,
    /// Closed loop: calls in flight per caller
    #[arg(long = "in-flight", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "rate")]
    pub(crate) in_flight: u64,
    /// Open loop: total calls per second, paced evenly across callers
    #[arg(long, value_parser = parse_rate)]
    pub(crate) rate: Option<f64>,
    /// Open loop: send the calls due within this many µs in one write (0: each on its own);
    /// latency still counts from each call's scheduled time
    #[arg(long = "batch-us", default_value_t = DEFAULT_BATCH_US, requires = "rate")]
    pub(crate) batch_us: u64,
    /// Progressive results: calls ask for them (receive_progress), callees send N progressive
    /// YIELDs before the final one; a call completes at its final RESULT
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u64).range(..=MAX_PROGRESS))]
    pub(crate) progress: u64,
    /// Shared registration: K callees register proc.shared with the --invoke policy, and every
    /// caller calls it
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) shared: Option<u64>,
    /// Invocation policy of the shared registration (needs --shared) [default: roundrobin]
    #[arg(long, value_name = "POLICY", value_enum)]
    pub(crate) invoke: Option<Invoke>,
}

impl RpcArgs {
    /// Callee sessions: `--shared`, else `--callees`, else 1.
    pub(crate) fn callees(&self) -> u64 {
        self.shared.or(self.callees).unwrap_or(1)
    }

    /// The REGISTER `invoke` option: the policy with `--shared`, else none.
    pub(crate) fn invoke(&self) -> Option<Invoke> {
        self.shared.map(|_| self.invoke.unwrap_or(Invoke::Roundrobin))
    }
}

/// The invocation policies of a shared registration (WAMP Advanced Profile).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Invoke {
    /// One callee only (the router refuses a second registration).
    Single,
    /// Each callee in turn.
    Roundrobin,
    /// A callee at random.
    Random,
    /// The callee that registered first.
    First,
    /// The callee that registered last.
    Last,
}

impl Invoke {
    /// The value of the REGISTER option `invoke`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Invoke::Single => "single",
            Invoke::Roundrobin => "roundrobin",
            Invoke::Random => "random",
            Invoke::First => "first",
            Invoke::Last => "last",
        }
    }
}

/// `connect` options.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// Concurrent connectors
    #[arg(long, default_value_t = DEFAULT_CLIENTS, value_parser = parse_positive)]
    pub(crate) clients: usize,
    /// Before the run, open one more session subscribed to wamp.session.on_join and
    /// wamp.session.on_leave, held to the end, counting both; the run fails unless one of each
    /// arrived for every session the connectors established
    #[arg(long = "meta-subscriber")]
    pub(crate) meta_subscriber: bool,
}

/// `idle` options.
#[derive(Debug, Args)]
pub(crate) struct IdleArgs {
    /// Sessions to open
    #[arg(value_parser = parse_positive)]
    pub(crate) sessions: usize,
    /// How long to hold them open, seconds
    #[arg(long, default_value_t = DEFAULT_HOLD_S, value_parser = parse_secs)]
    pub(crate) hold: f64,
}

/// A `--cpus` list, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CpuList(pub(crate) Vec<usize>);

fn parse_serializer(s: &str) -> Result<Serializer, String> {
    Serializer::from_name(s).ok_or_else(|| format!("'{s}' is not json, msgpack or cbor"))
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds")),
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("'{s}' is not a positive rate")),
    }
}

fn parse_positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(format!("'{s}' is not a positive integer")),
    }
}

/// Parses `1`, `1,3`, `2-3`, `0,2-3`.
pub(crate) fn parse_cpu_list(s: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let bad = || format!("'{s}' is not a CPU list (e.g. 1 or 1,3 or 2-3)");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(CpuList(cpus))
}

/// The validated common settings.
#[derive(Clone, Debug)]
pub(crate) struct Common {
    /// `--url` as given.
    pub(crate) url: String,
    /// Where to connect.
    pub(crate) target: Target,
    /// Serializer.
    pub(crate) ser: Serializer,
    /// Realm.
    pub(crate) realm: String,
    /// Measured phase, s.
    pub(crate) duration: f64,
    /// Warm-up, s.
    pub(crate) warmup: f64,
    /// Application payload, bytes.
    pub(crate) payload: usize,
    /// CPUs to pin to (empty: no pinning).
    pub(crate) cpus: Vec<usize>,
    /// Threads.
    pub(crate) threads: usize,
    /// Router PID.
    pub(crate) router_pid: Option<u32>,
    /// Label.
    pub(crate) label: String,
    /// JSON output.
    pub(crate) json: Option<PathBuf>,
    /// SVG output.
    pub(crate) plot: Option<PathBuf>,
    /// No progress line.
    pub(crate) quiet: bool,
    /// Poll the sockets without sleeping.
    pub(crate) busy_poll: bool,
}

impl Common {
    /// Checks the common options; `online` is the number of CPUs that may be named.
    pub(crate) fn from_args(a: CommonArgs, online: usize) -> Result<Common, String> {
        let target = target::parse(&a.url)?;
        let cpus = a.cpus.map(|c| c.0).unwrap_or_default();
        if let Some(bad) = cpus.iter().find(|&&c| c >= online) {
            return Err(format!("--cpus: CPU {bad} does not exist ({online} online)"));
        }
        let threads = a.threads.unwrap_or(cpus.len().max(1));
        if threads == 0 {
            return Err("--threads must be at least 1".to_owned());
        }
        if a.duration <= 0.0 {
            return Err("--duration must be positive".to_owned());
        }
        if a.payload > MAX_PAYLOAD {
            return Err(format!("--payload must be at most {MAX_PAYLOAD}"));
        }
        Ok(Common {
            url: a.url,
            target,
            ser: a.serializer,
            realm: a.realm,
            duration: a.duration,
            warmup: a.warmup,
            payload: a.payload,
            cpus,
            threads,
            router_pid: a.router_pid,
            label: a.label,
            json: a.json,
            plot: a.plot,
            quiet: a.quiet,
            busy_poll: a.busy_poll,
        })
    }

    /// The filler string that brings the Arguments to about `payload` bytes.
    pub(crate) fn filler(&self) -> String {
        "x".repeat(self.payload.saturating_sub(16))
    }

    /// The CPU thread `i` is pinned to, if any.
    pub(crate) fn cpu_of(&self, i: usize) -> Option<usize> {
        (!self.cpus.is_empty()).then(|| self.cpus[i % self.cpus.len()])
    }
}

/// Checks the pubsub options beyond what clap checks.
pub(crate) fn check_pubsub(a: &PubsubArgs) -> Result<(), String> {
    if a.publishers as usize > MAX_PUBLISHERS {
        return Err(format!("--publishers must be at most {MAX_PUBLISHERS}"));
    }
    if a.rate.is_none() {
        if a.window == 0 {
            return Err("--window must be at least 1".to_owned());
        }
        if a.subscribers < a.publishers.min(a.topics) {
            return Err("closed loop needs a subscriber on every topic that has a publisher: use --subscribers >= --topics, or --rate".to_owned());
        }
    }
    if let Some(n) = a.eligible {
        if n > a.subscribers {
            return Err(format!(
                "--eligible {n} names more subscribers than there are: use --eligible <= --subscribers ({})",
                a.subscribers
            ));
        }
        if a.rate.is_none() && n < a.publishers.min(a.topics) {
            return Err("closed loop needs an eligible subscriber on every topic that has a publisher: use --eligible >= --topics, or --rate".to_owned());
        }
    }
    Ok(())
}

/// Checks the rpc options beyond what clap checks.
pub(crate) fn check_rpc(a: &RpcArgs) -> Result<(), String> {
    if a.invoke.is_some() && a.shared.is_none() {
        return Err("--invoke needs --shared K: it is the policy of a shared registration".to_owned());
    }
    if let (Some(k), Some(e)) = (a.shared, a.callees) {
        if k != e {
            return Err(format!(
                "--callees {e} with --shared {k}: the shared callees are the callees; leave --callees out or give {k}"
            ));
        }
    }
    if a.invoke() == Some(Invoke::Single) && a.callees() > 1 {
        return Err("--invoke single allows one registration: use --shared 1, or another policy".to_owned());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_take_singles_commas_and_ranges() {
        assert_eq!(parse_cpu_list("1").unwrap(), CpuList(vec![1]));
        assert_eq!(parse_cpu_list("1,3").unwrap(), CpuList(vec![1, 3]));
        assert_eq!(parse_cpu_list("2-3").unwrap(), CpuList(vec![2, 3]));
        assert_eq!(parse_cpu_list("0, 2-4").unwrap(), CpuList(vec![0, 2, 3, 4]));
        for bad in ["", "a", "3-1", "1,", "-1", "1-"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn common_options_are_accepted_before_and_after_the_scenario() {
        let a =
            Cli::try_parse_from(["lg", "--serializer", "json", "pubsub", "--subscribers", "4", "--duration", "1.5"])
                .unwrap();
        assert_eq!(a.common.serializer, Serializer::Json);
        assert_eq!(a.common.duration, 1.5);
        let Scenario::Pubsub(p) = a.scenario else { panic!() };
        assert_eq!((p.publishers, p.subscribers, p.topics, p.window, p.rate), (1, 4, 1, 1000, None));
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let a = Cli::try_parse_from(["lg", "rpc"]).unwrap();
        assert_eq!(a.common.url, "rs://127.0.0.1:8080");
        assert_eq!(a.common.serializer, Serializer::MsgPack);
        assert_eq!(
            (a.common.realm.as_str(), a.common.duration, a.common.warmup, a.common.payload),
            ("realm1", 10.0, 2.0, 100)
        );
        let Scenario::Rpc(r) = a.scenario else { panic!() };
        assert_eq!((r.callers, r.callees(), r.in_flight, r.rate), (1, 1, 1, None));
        assert_eq!((r.progress, r.shared, r.invoke()), (0, None, None));
        let c = Common::from_args(a.common, 2).unwrap();
        assert_eq!((c.threads, c.cpus.len(), c.label.as_str()), (1, 0, "router"));
        let Scenario::Idle(i) = Cli::try_parse_from(["lg", "idle", "50"]).unwrap().scenario else { panic!() };
        assert_eq!((i.sessions, i.hold), (50, 5.0));
        let Scenario::Connect(c) = Cli::try_parse_from(["lg", "connect"]).unwrap().scenario else { panic!() };
        assert_eq!((c.clients, c.meta_subscriber), (8, false));
        let Scenario::Pubsub(p) = Cli::try_parse_from(["lg", "pubsub"]).unwrap().scenario else { panic!() };
        assert_eq!((p.eligible, p.receiving()), (None, 1));
    }

    #[test]
    fn threads_default_to_the_number_of_cpus() {
        let a = Cli::try_parse_from(["lg", "connect", "--cpus", "0-1"]).unwrap();
        let c = Common::from_args(a.common, 2).unwrap();
        assert_eq!(c.threads, 2);
        assert_eq!((c.cpu_of(0), c.cpu_of(1), c.cpu_of(2)), (Some(0), Some(1), Some(0)));
    }

    #[test]
    fn bad_arguments_are_refused() {
        for argv in [
            vec!["lg", "pubsub", "--serializer", "xml"],
            vec!["lg", "pubsub", "--publishers", "0"],
            vec!["lg", "pubsub", "--rate", "0"],
            vec!["lg", "pubsub", "--rate", "10", "--window", "5"],
            vec!["lg", "rpc", "--in-flight", "4", "--rate", "5"],
            vec!["lg", "idle"],
            vec!["lg", "idle", "0"],
            vec!["lg", "connect", "--duration", "-1"],
            vec!["lg"],
        ] {
            assert!(Cli::try_parse_from(&argv).is_err(), "{argv:?}");
        }
        let a = Cli::try_parse_from(["lg", "connect", "--cpus", "7"]).unwrap();
        assert!(Common::from_args(a.common, 2).unwrap_err().contains("CPU 7"));
        let a = Cli::try_parse_from(["lg", "connect", "--duration", "0"]).unwrap();
        assert!(Common::from_args(a.common, 2).is_err());
    }

    #[test]
    fn closed_loop_needs_subscribers_on_published_topics() {
        let p = |argv: &[&str]| match Cli::try_parse_from(argv).unwrap().scenario {
            Scenario::Pubsub(p) => p,
            _ => panic!(),
        };
        assert!(check_pubsub(&p(&["lg", "pubsub", "--topics", "4", "--publishers", "4"])).is_err());
        assert!(check_pubsub(&p(&["lg", "pubsub", "--topics", "4", "--publishers", "4", "--subscribers", "4"])).is_ok());
        assert!(check_pubsub(&p(&["lg", "pubsub", "--topics", "4", "--publishers", "4", "--rate", "100"])).is_ok());
        assert!(check_pubsub(&p(&["lg", "pubsub", "--topics", "4"])).is_ok());
    }

    #[test]
    fn eligible_lists_at_most_the_subscribers() {
        let p = |argv: &[&str]| match Cli::try_parse_from(argv).map_err(|e| e.to_string())?.scenario {
            Scenario::Pubsub(p) => check_pubsub(&p).map(|()| p),
            _ => panic!(),
        };
        let ok = p(&["lg", "pubsub", "--subscribers", "100", "--eligible", "10"]).unwrap();
        assert_eq!((ok.eligible, ok.receiving()), (Some(10), 10));
        assert_eq!(p(&["lg", "pubsub", "--subscribers", "3", "--eligible", "3"]).unwrap().receiving(), 3);
        let err = p(&["lg", "pubsub", "--subscribers", "3", "--eligible", "4"]).unwrap_err();
        assert!(err.contains("--eligible 4") && err.contains("(3)"), "{err}");
        assert!(p(&["lg", "pubsub", "--eligible", "0"]).is_err());
        let topics = ["lg", "pubsub", "--topics", "4", "--publishers", "4", "--subscribers", "8", "--eligible", "2"];
        assert!(p(&topics).unwrap_err().contains("eligible subscriber on every topic"));
        assert!(p(&[&topics[..], &["--rate", "100"]].concat()).is_ok());
        let Scenario::Connect(c) = Cli::try_parse_from(["lg", "connect", "--meta-subscriber"]).unwrap().scenario else {
            panic!()
        };
        assert!(c.meta_subscriber);
    }

    fn rpc(argv: &[&str]) -> Result<RpcArgs, String> {
        match Cli::try_parse_from(argv).map_err(|e| e.to_string())?.scenario {
            Scenario::Rpc(r) => check_rpc(&r).map(|()| r),
            _ => panic!(),
        }
    }

    #[test]
    fn progressive_results_and_shared_registrations_are_parsed() {
        let r = rpc(&["lg", "rpc", "--progress", "4"]).unwrap();
        assert_eq!((r.progress, r.callees(), r.invoke()), (4, 1, None));
        let r = rpc(&["lg", "rpc", "--shared", "4", "--callers", "2"]).unwrap();
        assert_eq!((r.shared, r.callees(), r.invoke()), (Some(4), 4, Some(Invoke::Roundrobin)));
        let r = rpc(&["lg", "rpc", "--shared", "3", "--callees", "3", "--invoke", "last", "--progress", "2"]).unwrap();
        assert_eq!((r.callees(), r.invoke().map(Invoke::as_str), r.progress), (3, Some("last"), 2));
        for policy in ["single", "roundrobin", "random", "first", "last"] {
            let r = rpc(&["lg", "rpc", "--shared", "1", "--invoke", policy]).unwrap();
            assert_eq!(r.invoke().map(Invoke::as_str), Some(policy));
        }
        assert_eq!(rpc(&["lg", "rpc", "--callees", "5"]).unwrap().callees(), 5);
    }

    #[test]
    fn bad_progress_and_shared_options_are_refused() {
        for argv in [
            vec!["lg", "rpc", "--progress", "-1"],
            vec!["lg", "rpc", "--progress", "10001"],
            vec!["lg", "rpc", "--shared", "0"],
            vec!["lg", "rpc", "--invoke", "roundrobin"],
            vec!["lg", "rpc", "--shared", "2", "--invoke", "fastest"],
            vec!["lg", "rpc", "--shared", "2", "--callees", "3"],
            vec!["lg", "rpc", "--shared", "2", "--invoke", "single"],
        ] {
            assert!(rpc(&argv).is_err(), "{argv:?}");
        }
    }
}
