//! A sink's `mode`: `live` sends to the vendor; `shadow` runs the plugin for real but captures its
//! requests (stored for the pilot report) so nothing leaves the machine. Read leniently so an
//! unknown value is refused by validation, with the sink's name and the values allowed.

use serde::Deserialize;

/// Where a sink's requests go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkMode {
    #[default]
    Live,
    Shadow,
}

impl SinkMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SinkMode::Live => "live",
            SinkMode::Shadow => "shadow",
        }
    }
}

/// `mode = "…"` as written: a known mode, or the text of an unknown one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ModeSetting {
    Known(SinkMode),
    Unknown(String),
}

/// Checks the `mode` of connector `id` in section `section` ("source" or "sink").
pub(super) fn validate(section: &str, id: &str, mode: Option<&ModeSetting>) -> Result<(), String> {
    match (section, mode) {
        (_, None) => Ok(()),
        ("source", Some(_)) => Err(format!(
            "[[source]] {id:?}: mode applies to sinks only (a source only reads from the POS; \
             shadow the sinks to pilot without sending)"
        )),
        (_, Some(ModeSetting::Known(_))) => Ok(()),
        (_, Some(ModeSetting::Unknown(text))) => Err(format!(
            "[[{section}]] {id:?}: mode {text:?} is not a mode: use \"live\" (the default: sends \
             to the vendor) or \"shadow\" (runs the plugin but only records its requests)"
        )),
    }
}

/// The mode in force: live unless `shadow` is set.
pub fn resolve(mode: Option<&ModeSetting>) -> SinkMode {
    match mode {
        Some(ModeSetting::Known(mode)) => *mode,
        _ => SinkMode::Live,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    #[test]
    fn shadow_is_a_sink_mode_and_anything_else_is_refused_by_name() {
        let sink = |mode: &str| format!("[[sink]]\nid = \"crm\"\nplugin = \"p\"\nmode = {mode}\n");
        let config = Config::parse(&sink("\"shadow\""), Path::new(".")).unwrap();
        assert_eq!(config.sinks[0].mode(), super::SinkMode::Shadow);
        let config = Config::parse("[[sink]]\nid = \"crm\"\nplugin = \"p\"\n", Path::new("."));
        assert_eq!(config.unwrap().sinks[0].mode(), super::SinkMode::Live);
        for bad in ["\"dry\"", "\"Shadow\""] {
            let err = Config::parse(&sink(bad), Path::new(".")).unwrap_err();
            assert!(
                err.contains("[[sink]] \"crm\"")
                    && err.contains("\"live\"")
                    && err.contains("\"shadow\""),
                "{bad}: {err}"
            );
        }
        let source = "[[source]]\nid = \"pos\"\nplugin = \"p\"\nmode = \"shadow\"\n";
        let err = Config::parse(source, Path::new(".")).unwrap_err();
        assert!(err.contains("mode applies to sinks only"), "{err}");
    }
}
