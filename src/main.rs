//! The `wampyard` binary: command line -> configuration -> shards -> wait for a signal -> shut
//! down within the configured deadline.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tracing_subscriber::EnvFilter;

use wampyard::config::{online_cpus, Config};
use wampyard::shard::{BoundAddr, Server};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Extra time, past the configured shutdown timeout, before the process gives up on a shard
/// that does not stop and exits anyway.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// wampyard: a shard-per-core WAMP router (RPC and Pub/Sub over WebSocket and RawSocket, with
/// JSON, MessagePack and CBOR).
///
/// Without --config it serves the embedded default: WebSocket and RawSocket on one port,
/// 127.0.0.1:8080, realm `realm1` open to anonymous clients, one shard per online CPU.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// TOML configuration file (see tuning/wampyard.example.toml for every key).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Number of shards (one executor thread each); overrides `router.shards`.
    #[arg(long, value_name = "N")]
    shards: Option<usize>,

    /// CPUs to pin the shards to, e.g. `0,2,4` or `0-3`; overrides `router.cpus`.
    #[arg(long, value_name = "LIST", value_parser = parse_cpu_list)]
    cpus: Option<CpuList>,

    /// Do not pin shards to CPUs (for shared machines and tests).
    #[arg(long)]
    no_pin: bool,

    /// Log filter, e.g. `info`, `debug`, `wampyard=trace`; default: RUST_LOG, else `info`.
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,

    /// Print the effective configuration's listeners and shards, then exit.
    #[arg(long)]
    check: bool,
}

/// A parsed `--cpus` list (a newtype, so clap takes the whole list as one value).
#[derive(Clone, Debug, PartialEq)]
struct CpuList(Vec<usize>);

fn parse_cpu_list(s: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |t: &str| t.trim().parse::<usize>().map_err(|_| format!("'{t}' is not a CPU number"));
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("'{part}' is an empty range"));
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(num(part)?),
        }
    }
    if cpus.is_empty() {
        return Err("the CPU list is empty".into());
    }
    Ok(CpuList(cpus))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let filter = match &cli.log {
        Some(f) => EnvFilter::try_new(f).with_context(|| format!("bad --log filter '{f}'"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    // Shard threads never write logs synchronously: a background thread does the writing.
    let (writer, _flush_guard) = tracing_appender::non_blocking(std::io::stderr());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi).init();

    let mut config = match &cli.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(n) = cli.shards {
        config.router.shards = Some(n);
    }
    if let Some(CpuList(cpus)) = cli.cpus {
        config.router.cpus = Some(cpus);
    }
    if cli.no_pin {
        config.router.pin = false;
        config.router.cpus = None;
    }
    config.validate(online_cpus())?;
    let (shards, cpus) = config.resolve_shards(online_cpus());
    if cli.check {
        println!("configuration ok: {shards} shard(s), pinned to {cpus:?}");
        return Ok(());
    }

    let server = Server::start(&config)?;
    for addr in server.addrs() {
        match addr {
            BoundAddr::Tcp(a) => tracing::info!("listening on {a} (WebSocket and RawSocket)"),
            BoundAddr::Unix(p) => tracing::info!("listening on unix:{}", p.display()),
        }
    }
    tracing::info!(shards, ?cpus, "wampyard {} serving", env!("CARGO_PKG_VERSION"));

    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP]).context("cannot install signal handlers")?;
    for signal in signals.forever() {
        if signal != SIGHUP {
            tracing::info!(signal, "shutting down");
            break;
        }
        reload_roles(&server, cli.config.as_deref());
    }
    server.shutdown();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(server.join());
    });
    match done_rx.recv_timeout(config.router.shutdown_timeout + EXIT_GRACE) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => bail!("shards did not stop within the shutdown deadline"),
    }
}

/// SIGHUP: reads the configuration file again and applies its roles and permissions to every
/// shard; a file that does not load, validate or keep the same realms changes nothing.
fn reload_roles(server: &Server, path: Option<&std::path::Path>) {
    let Some(path) = path else {
        tracing::warn!("SIGHUP ignored: the router runs without a configuration file");
        return;
    };
    let loaded = Config::load(path).map_err(|e| e.to_string());
    let checked = loaded.and_then(|c| c.validate(online_cpus()).map(|()| c).map_err(|e| e.to_string()));
    match checked.and_then(|c| server.reload_roles(&c).map_err(|e| e.to_string())) {
        Ok(()) => tracing::info!(path = %path.display(), "roles and permissions reloaded"),
        Err(e) => tracing::error!(path = %path.display(), "roles and permissions not reloaded: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_cpu_list, Cli, CpuList};
    use clap::Parser;

    #[test]
    fn cpu_lists_accept_single_cpus_and_ranges() {
        assert_eq!(parse_cpu_list("0,2,4"), Ok(CpuList(vec![0, 2, 4])));
        assert_eq!(parse_cpu_list("0-3"), Ok(CpuList(vec![0, 1, 2, 3])));
        assert_eq!(parse_cpu_list("1, 3-4"), Ok(CpuList(vec![1, 3, 4])));
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
        assert!(parse_cpu_list("").is_err());
    }

    #[test]
    fn every_flag_parses_on_the_command_line() {
        let cli = Cli::try_parse_from(["wampyard", "--cpus", "0,2-3", "--shards", "3", "--no-pin", "--log", "debug"]);
        let cli = cli.map_err(|e| e.to_string());
        assert_eq!(cli.as_ref().map(|c| c.cpus.clone()), Ok(Some(CpuList(vec![0, 2, 3]))));
        assert_eq!(cli.as_ref().map(|c| c.shards), Ok(Some(3)));
        assert!(Cli::try_parse_from(["wampyard", "--cpus", "x"]).is_err());
    }
}
