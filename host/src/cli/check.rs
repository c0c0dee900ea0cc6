//! `rapport check`'s output: the lines of the go-live check as a table (check, verdict, detail)
//! for people, or as a JSON array for tools.

use rapport_host::check::Line;

/// The lines as a table, one row each, the columns aligned.
pub fn table(lines: &[Line]) -> String {
    let width = |column: &dyn Fn(&Line) -> String, title: &str| {
        lines
            .iter()
            .map(|l| column(l).chars().count())
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let check = width(&|l| l.check.clone(), "check");
    let verdict = width(&|l| l.verdict.to_string(), "verdict");
    let mut out = format!("{:check$}  {:verdict$}  detail\n", "check", "verdict");
    for line in lines {
        out.push_str(&format!(
            "{:check$}  {:verdict$}  {}\n",
            line.check,
            line.verdict.to_string(),
            line.detail
        ));
    }
    out
}

/// The lines as a JSON array of `{"check", "verdict", "detail"}` (verdicts `ok`, `warn`, `fail`,
/// `skip`).
pub fn json(lines: &[Line]) -> serde_json::Value {
    serde_json::to_value(lines).expect("check lines serialise")
}
