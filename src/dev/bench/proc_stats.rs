//! What `bench process` reads about the processes it runs: CPU time and peak memory from
//! `/proc`, counters from Prometheus text, and a description of the machine. Linux only; it
//! knows nothing about the connector.

use std::time::Duration;

use super::BenchResult;

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on Linux).
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// User plus system CPU time of a process, from `/proc/<pid>/stat`.
pub(super) fn cpu_time(pid: u32) -> BenchResult<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .map(|index| {
            fields
                .get(*index)
                .and_then(|value| value.parse::<u64>().ok())
        })
        .sum::<Option<u64>>()
        .ok_or("unexpected /proc/<pid>/stat format")?;
    Ok(Duration::from_secs_f64(ticks as f64 / CLOCK_TICKS_PER_SEC))
}

/// Peak resident set (`VmHWM`) of a process, in kB.
pub(super) fn peak_rss_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmHWM")
}

/// A kB figure of `/proc/<pid>/status` (`VmHWM`, `VmRSS`).
pub(super) fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The value of an unlabelled counter in Prometheus text.
pub(super) fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse::<f64>().ok())
        // Counters are whole numbers well below 2^53.
        .map(|value| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let whole = value as u64;
            whole
        })
}

/// A loopback port free right now, for the connector's sidecar server.
pub(super) fn free_loopback_port() -> BenchResult<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// `uname -srm`, the CPU model and the CPU count.
pub(super) fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    format!(
        "{}, {model}, {cpus} CPUs",
        command_output("uname", &["-srm"])
    )
}

/// What `program args` prints, trimmed; empty when it cannot run.
pub(super) fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The sum of every sample of a counter, labelled or not, in Prometheus text.
pub(super) fn metric_sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let value = if rest.starts_with('{') {
                rest.rsplit_once('}')?.1
            } else {
                rest.strip_prefix(' ')?
            };
            value.trim().parse::<f64>().ok()
        })
        // Counters are whole numbers well below 2^53.
        .map(|value| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let whole = value as u64;
            whole
        })
        .sum()
}
