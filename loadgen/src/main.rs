//! wampyard-loadgen: a load generator for any WAMP router.
//!
//! It speaks standard WAMP over RawSocket (TCP and Unix) and WebSocket with JSON, MessagePack
//! and CBOR, and measures pub/sub throughput and delivery latency, RPC round trips, session
//! setup and idle-session memory, with the router's CPU and memory from procfs. It is built to
//! cost less than the router it measures: hand-written wire code, one event loop per pinned
//! thread, batched writes, no allocation per message.
//!
//! Owns: the process: arguments, the one-line errors and exit codes, and the output files.
//! Never: measures (see `scenario`) or speaks WAMP (see `engine`, `roles`, `wire`).

mod cli;
mod clock;
mod conn;
mod engine;
mod pace;
mod plot;
mod progress;
mod report;
mod roles;
mod scenario;
mod seq;
mod stats;
mod sysinfo;
mod target;
mod wire;

use std::io::Write as _;
use std::net::TcpStream;
use std::os::unix::fs::FileTypeExt as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::Parser as _;

use crate::cli::{Cli, Common, Scenario};
use crate::target::Target;

/// How long the reachability check waits for a TCP connect.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(3);

/// Exit code for bad arguments (as clap uses).
const EXIT_USAGE: u8 = 2;

/// Exit code for a failed run.
const EXIT_FAILURE: u8 = 1;

fn main() -> ExitCode {
    clock::init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            eprintln!("wampyard-loadgen: {}", first.trim_start_matches("error: "));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let common = match Common::from_args(cli.common, sysinfo::online_cores()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wampyard-loadgen: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let checked = match &cli.scenario {
        Scenario::Rpc(a) => cli::check_rpc(a),
        Scenario::Pubsub(a) => cli::check_pubsub(a),
        Scenario::Connect(_) | Scenario::Idle(_) => Ok(()),
    };
    if let Err(e) = checked {
        eprintln!("wampyard-loadgen: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    match run(&common, &cli.scenario) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let text = format!("{e:#}");
            eprintln!("wampyard-loadgen: {}", text.lines().next().unwrap_or_default());
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn run(c: &Common, scenario: &Scenario) -> anyhow::Result<()> {
    sysinfo::raise_nofile_limit();
    if let Some(id) = c.cpu_of(0) {
        core_affinity::set_for_current(core_affinity::CoreId { id });
    }
    preflight(c)?;
    let command = report::command_line();
    let timestamp = sysinfo::timestamp_utc();
    let outcome = match scenario {
        Scenario::Pubsub(a) => scenario::pubsub::run(c, a)?,
        Scenario::Rpc(a) => scenario::rpc::run(c, a)?,
        Scenario::Connect(a) => scenario::connect::run(c, a)?,
        Scenario::Idle(a) => scenario::idle::run(c, a)?,
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(report::summary(c, &outcome).as_bytes());
    let _ = stdout.flush();
    if let Some(path) = &c.json {
        let record = report::record(c, &sysinfo::host(), &command, &timestamp, &outcome);
        report::append_json(path, &record)?;
    }
    if let (Some(path), Some(data)) = (&c.plot, &outcome.plot) {
        plot::write_svg(path, data)?;
    }
    match outcome.failed {
        Some(why) => bail!(why),
        None => Ok(()),
    }
}

/// Checks that the router accepts connections, for a clear error before any thread starts. A
/// Unix socket is only checked to exist: connecting there cannot time out, so the sessions'
/// own connect reports any other failure just as clearly.
fn preflight(c: &Common) -> anyhow::Result<()> {
    let result = match &c.target {
        Target::RawTcp { addr } | Target::WebSocket { addr, .. } => {
            TcpStream::connect_timeout(addr, PREFLIGHT_TIMEOUT).map(drop)
        }
        Target::RawUnix { path } => std::fs::metadata(path).and_then(|m| {
            if m.file_type().is_socket() {
                Ok(())
            } else {
                Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a socket"))
            }
        }),
    };
    if let Err(e) = result {
        bail!("cannot connect to {}: {}", c.url, engine::io_reason(&e));
    }
    Ok(())
}
