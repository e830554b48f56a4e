//! Facts about the host and the processes: router CPU and memory from procfs, the load
//! generator's own CPU, the host fingerprint for results, and process limits.
//!
//! Owns: every read of `/proc`, `getrusage`, `setrlimit` and `prctl`. Never: interprets the
//! figures (scenarios do).

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;

use crate::clock::NS_PER_S;

/// The router's CPU time and memory at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProcSample {
    /// utime + stime, ns (clock-tick resolution, usually 10 ms).
    pub(crate) cpu_ns: u64,
    /// VmRSS, kB.
    pub(crate) rss_kb: Option<u64>,
    /// VmHWM (peak RSS), kB.
    pub(crate) hwm_kb: Option<u64>,
}

/// Reads `/proc/PID/stat` and `/proc/PID/status`.
pub(crate) fn sample_process(pid: u32) -> anyhow::Result<ProcSample> {
    let dir = Path::new("/proc").join(pid.to_string());
    let stat = std::fs::read_to_string(dir.join("stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat (is --router-pid right?)"))?;
    let cpu_ticks = parse_stat_cpu_ticks(&stat).with_context(|| format!("unexpected format of /proc/{pid}/stat"))?;
    let status =
        std::fs::read_to_string(dir.join("status")).with_context(|| format!("cannot read /proc/{pid}/status"))?;
    Ok(ProcSample {
        cpu_ns: cpu_ticks.saturating_mul(NS_PER_S) / clock_ticks_per_s(),
        rss_kb: status_kb(&status, "VmRSS"),
        hwm_kb: status_kb(&status, "VmHWM"),
    })
}

/// utime + stime in clock ticks from the text of `/proc/PID/stat`.
fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After ')' come field 3 (state) onwards; utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The value in kB of a `Name:   123 kB` line of `/proc/PID/status`.
fn status_kb(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

fn clock_ticks_per_s() -> u64 {
    // SAFETY: sysconf has no memory preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// This process's CPU time (user + system, all threads), ns.
pub(crate) fn self_cpu_ns() -> u64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: usage is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0;
    }
    let tv_ns = |tv: libc::timeval| (tv.tv_sec as u64) * NS_PER_S + (tv.tv_usec as u64) * 1000;
    tv_ns(usage.ru_utime) + tv_ns(usage.ru_stime)
}

/// Raises the soft limit on open files to the hard limit (10,000 idle sessions need it).
pub(crate) fn raise_nofile_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: lim is a valid rlimit to fill and then pass back.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The soft limit on open files.
pub(crate) fn nofile_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: lim is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    lim.rlim_cur
}

/// Makes this thread's timed waits as precise as the kernel allows (1 ns slack instead of
/// 50 µs), for open-loop pacing.
pub(crate) fn precise_timers() {
    // SAFETY: PR_SET_TIMERSLACK takes an integer argument and touches no memory of ours.
    unsafe {
        libc::prctl(
            libc::PR_SET_TIMERSLACK,
            1 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        );
    }
}

/// The host fingerprint recorded with every result.
#[derive(Clone, Debug)]
pub(crate) struct Host {
    /// `model name` of the first CPU.
    pub(crate) cpu_model: Option<String>,
    /// `uname -r`.
    pub(crate) kernel: Option<String>,
    /// Online CPUs.
    pub(crate) online_cores: usize,
    /// `git rev-parse HEAD` of the working directory.
    pub(crate) git_commit: Option<String>,
}

/// Reads the host fingerprint.
pub(crate) fn host() -> Host {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines().find_map(|l| {
            l.strip_prefix("model name").and_then(|v| v.split_once(':')).map(|(_, v)| v.trim().to_owned())
        })
    });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned());
    let git_commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    Host { cpu_model, kernel, online_cores: online_cores(), git_commit }
}

/// CPUs online now.
pub(crate) fn online_cores() -> usize {
    // SAFETY: sysconf has no memory preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// The current UTC time as RFC 3339 (`2024-05-01T12:34:56.789Z`).
pub(crate) fn timestamp_utc() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    format_utc(now.as_secs(), now.subsec_millis())
}

fn format_utc(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Gregorian (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_ticks_survive_a_command_name_with_spaces_and_parentheses() {
        let stat = "1234 (my (weird) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 100 0 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(325));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn status_memory_lines_are_read_in_kilobytes() {
        let status = "Name:\twampyard\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(status_kb(status, "VmRSS"), Some(10_240));
        assert_eq!(status_kb(status, "VmHWM"), Some(20_480));
        assert_eq!(status_kb(status, "VmSwap"), None);
    }

    #[test]
    fn own_process_can_be_sampled() {
        let s = sample_process(std::process::id()).unwrap();
        assert!(s.rss_kb.unwrap() > 0);
        assert!(s.hwm_kb.unwrap() >= s.rss_kb.unwrap());
    }

    #[test]
    fn utc_timestamps_are_rfc3339() {
        assert_eq!(format_utc(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(951_782_400 + 3661, 5), "2000-02-29T01:01:01.005Z");
        assert_eq!(format_utc(1_700_000_000, 999), "2023-11-14T22:13:20.999Z");
    }
}
