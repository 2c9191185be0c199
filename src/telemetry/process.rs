//! Process metrics read from `/proc/self` on Linux at each scrape: resident memory, CPU
//! seconds, open file descriptors and the start time. Elsewhere they stay at zero.
//!
//! Written here rather than taken from a crate: it is three small files and the formats are
//! stable. The CPU figure assumes the kernel's `USER_HZ` of 100, which every mainstream Linux
//! architecture uses; reading `sysconf` would need `libc` and `unsafe`. It knows nothing
//! about the connector.

/// Clock ticks per second in `/proc/self/stat` (`USER_HZ`).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// One reading of the process's resources.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct ProcessSample {
    /// Resident set size in bytes.
    pub(super) resident_memory_bytes: i64,
    /// User plus system CPU time in seconds.
    pub(super) cpu_seconds: f64,
    /// Open file descriptors.
    pub(super) open_fds: i64,
}

/// Reads `/proc/self`; `None` where it does not exist (not Linux) or cannot be parsed.
pub(super) fn sample() -> Option<ProcessSample> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count();
    let page_size_bytes = page_size_bytes();
    let resident_pages: i64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(ProcessSample {
        resident_memory_bytes: resident_pages.saturating_mul(page_size_bytes),
        cpu_seconds: cpu_seconds(&stat)?,
        open_fds: i64::try_from(open_fds).unwrap_or(i64::MAX),
    })
}

/// `utime + stime` of a `/proc/<pid>/stat` line, in seconds. The command name (field 2) may
/// hold spaces and parentheses, so fields are counted after its closing parenthesis.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let user_ticks: u64 = fields.get(11)?.parse().ok()?;
    let system_ticks: u64 = fields.get(12)?.parse().ok()?;
    Some((user_ticks + system_ticks) as f64 / CLOCK_TICKS_PER_SECOND)
}

/// The page size: 4 KiB, as on x86-64 and most arm64 kernels (reading the real one needs
/// `sysconf`).
fn page_size_bytes() -> i64 {
    4096
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_seconds_are_counted_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "42 (byoc (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0";
        assert_eq!(cpu_seconds(stat), Some(3.0));
    }

    #[test]
    fn this_process_has_memory_and_open_files_on_linux() {
        if cfg!(target_os = "linux") {
            let sample = sample().unwrap();
            assert!(sample.resident_memory_bytes > 0);
            assert!(sample.open_fds > 0);
        }
    }
}
