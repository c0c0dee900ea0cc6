//! What the benchmarks share: a section of figures that is printed as it is measured and, when
//! `scripts/bench` runs them (it names a directory in `RAPPORT_BENCH_REPORT`), kept as a markdown
//! file it assembles into BENCHMARKS.md, so the figures there always come from a run; and the
//! process's CPU time and peak memory, read from `/proc`.

use std::fmt::Write as _;
use std::path::PathBuf;

/// One benchmark's figures: markdown lines, printed as they come.
pub struct Section {
    file: &'static str,
    text: String,
}

impl Section {
    /// A section headed `title`, kept as `<RAPPORT_BENCH_REPORT>/<file>.md`; `about` says what was
    /// measured and how.
    pub fn new(file: &'static str, title: &str, about: &str) -> Section {
        let mut section = Section {
            file,
            text: String::new(),
        };
        section.line(format!("## {title}\n\n{about}\n"));
        section
    }

    /// A section written whole by its benchmark (`text` starts with its `## ` heading), printed
    /// now and kept as `<RAPPORT_BENCH_REPORT>/<file>.md`.
    pub fn whole(file: &'static str, text: String) -> Section {
        println!("{text}");
        Section { file, text }
    }

    /// Adds a line (markdown), and prints it.
    pub fn line(&mut self, line: impl AsRef<str>) {
        let line = line.as_ref();
        println!("{line}");
        let _ = writeln!(self.text, "{line}");
    }

    /// Adds a table of `header` and `rows` (each as many cells as the header).
    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        let mut text = format!(
            "\n| {} |\n|{}\n",
            header.join(" | "),
            "---|".repeat(header.len())
        );
        for row in rows {
            let _ = writeln!(text, "| {} |", row.join(" | "));
        }
        self.line(text);
    }

    /// Where `scripts/bench` wants the section, if it ran this benchmark.
    fn path(&self) -> Option<PathBuf> {
        let dir = std::env::var_os("RAPPORT_BENCH_REPORT")?;
        Some(PathBuf::from(dir).join(format!("{}.md", self.file)))
    }
}

impl Drop for Section {
    /// Keeps the section for BENCHMARKS.md (whatever was measured, should a run fail part-way).
    fn drop(&mut self) {
        if let Some(path) = self.path() {
            if let Err(e) = std::fs::write(&path, &self.text) {
                eprintln!("could not keep the section in {}: {e}", path.display());
            }
        }
    }
}

/// User and system CPU time this process has used, in seconds (`/proc/self/stat`, in clock ticks
/// of 1/100 s).
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// A field of `/proc/<pid>/status` in kB (`VmRSS`, `VmHWM`), for `pid` (`"self"` for this one).
pub fn status_kb(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Kilobytes as megabytes, for a table.
pub fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}
