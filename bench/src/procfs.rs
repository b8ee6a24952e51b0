//! A process's figures as the kernel counts them, read from `/proc` (Linux): resident memory now
//! and at its peak, and CPU time used. Nothing here is estimated.

use anyhow::{bail, Context, Result};

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`, …), in KiB.
fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    parse_status_kib(&status, field).with_context(|| format!("{field} in {path}"))
}

fn parse_status_kib(status: &str, field: &str) -> Result<u64> {
    let Some(rest) = status.lines().find_map(|line| {
        line.strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
    }) else {
        bail!("no {field} line");
    };
    let mut words = rest.split_whitespace();
    let value = words.next().context("no value")?;
    if words.next() != Some("kB") {
        bail!("not in kB: {rest:?}");
    }
    value
        .parse()
        .with_context(|| format!("not a number: {value:?}"))
}

/// The resident set size of process `pid` now (`VmRSS`), in KiB.
pub(crate) fn resident_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmRSS")
}

/// The peak resident set size of process `pid` since it started (`VmHWM`), in KiB.
pub(crate) fn peak_resident_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmHWM")
}

/// The CPU time process `pid` has used, user plus system (`utime` + `stime` of
/// `/proc/PID/stat`), in seconds.
pub(crate) fn cpu_seconds(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    let ticks =
        parse_stat_cpu_ticks(&stat).with_context(|| format!("utime and stime in {path}"))?;
    // The unit of utime/stime is the kernel's USER_HZ, which sysconf(_SC_CLK_TCK) reports
    // (rustix reads it from the auxiliary vector, without unsafe code).
    let per_second = rustix::param::clock_ticks_per_second();
    if per_second == 0 {
        bail!("the clock tick rate is 0");
    }
    Ok(ticks as f64 / per_second as f64)
}

/// `utime + stime` in clock ticks from the text of `/proc/PID/stat`. The second field (the
/// command name, in parentheses) may itself hold spaces and parentheses, so the fields are
/// counted from the last `)`: after it come state (field 3), …, utime (14) and stime (15).
fn parse_stat_cpu_ticks(stat: &str) -> Result<u64> {
    let (_, after_name) = stat
        .rsplit_once(')')
        .context("no `)` after the command name")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is field 3 (state), so field n is fields[n - 3].
    let field = |n: usize| -> Result<u64> {
        let text = fields.get(n - 3).with_context(|| format!("no field {n}"))?;
        text.parse()
            .with_context(|| format!("field {n} is not a number: {text:?}"))
    };
    Ok(field(14)? + field(15)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_resident_memory_and_a_peak_above_it() {
        let pid = std::process::id();
        let now = resident_kib(pid).unwrap();
        let peak = peak_resident_kib(pid).unwrap();
        assert!(now > 0, "VmRSS {now}");
        assert!(peak >= now, "VmHWM {peak} below VmRSS {now}");
    }

    #[test]
    fn resident_memory_grows_when_this_process_touches_memory() {
        let pid = std::process::id();
        let before = peak_resident_kib(pid).unwrap();
        let block = vec![1_u8; 64 << 20];
        assert_eq!(
            std::hint::black_box(&block)
                .iter()
                .map(|&b| b as u64)
                .sum::<u64>(),
            64 << 20
        );
        let after = peak_resident_kib(pid).unwrap();
        assert!(after >= before + 32 * 1024, "peak {before} → {after} KiB");
    }

    #[test]
    fn this_process_cpu_time_counts_work() {
        let pid = std::process::id();
        let before = cpu_seconds(pid).unwrap();
        let start = std::time::Instant::now();
        let mut x = 0_u64;
        while start.elapsed() < std::time::Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let after = cpu_seconds(pid).unwrap();
        assert!(after >= before + 0.1, "cpu {before} → {after} s");
        // Not more than the wall time of all threads could have used, roughly.
        assert!(after - before < 60.0);
    }

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        let stat = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 1 0";
        assert_eq!(parse_stat_cpu_ticks(stat).unwrap(), 325);
        assert!(parse_stat_cpu_ticks("1234 (x) S 1").is_err());
    }

    #[test]
    fn status_fields_parse_and_missing_ones_are_errors() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS").unwrap(), 1024);
        assert_eq!(parse_status_kib(status, "VmHWM").unwrap(), 2048);
        assert!(parse_status_kib(status, "VmSwap").is_err());
    }

    #[test]
    fn a_missing_process_is_an_error() {
        assert!(resident_kib(u32::MAX).is_err());
        assert!(cpu_seconds(u32::MAX).is_err());
    }
}
