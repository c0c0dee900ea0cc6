//! Running one side of the comparison as a child program and measuring it from the kernel's own
//! accounting: wall time from spawn to exit, CPU time (user + system, of the program and of any
//! children it waited for) and peak resident memory (the largest process of that tree), as
//! `wait4` reports them. Its standard output is handed over line by line as it comes, so a large
//! output is counted, never held; its standard error goes to a file.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one run cost, and how it ended.
#[derive(Debug, Clone)]
pub struct Cost {
    pub wall: Duration,
    pub cpu: Duration,
    pub peak_rss_bytes: u64,
    /// Whether it exited with status 0.
    pub succeeded: bool,
    /// The end of its standard error, for a run that failed.
    pub stderr_tail: String,
}

/// Runs `command` to its end with its standard error written to `stderr_file`, calling `line`
/// with each line of its standard output.
pub fn run(
    mut command: Command,
    stderr_file: &Path,
    mut line: impl FnMut(&str),
) -> std::io::Result<Cost> {
    let stderr = std::fs::File::create(stderr_file)?;
    command.stdout(Stdio::piped()).stderr(stderr);
    let started = Instant::now();
    let mut child = command.spawn()?;
    let stdout = child.stdout.take().expect("a piped stdout");
    for text in BufReader::new(stdout).lines() {
        line(&text?);
    }
    let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
    let mut status = 0;
    // SAFETY: `rusage` is plain old data, so all zeroes is a valid value; wait4 writes into the
    // two locals it is handed and reaps `pid`, our own child, which `child` never waits for.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    if reaped != pid {
        return Err(std::io::Error::last_os_error());
    }
    let seconds = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let succeeded = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Ok(Cost {
        wall,
        cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        peak_rss_bytes: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
        succeeded,
        stderr_tail: match succeeded {
            true => String::new(),
            false => tail(stderr_file),
        },
    })
}

/// The last lines of the file at `path` (at most 1,500 characters).
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text.char_indices().rev().nth(1500).map_or(0, |(i, _)| i);
    text[start..].trim().to_owned()
}
