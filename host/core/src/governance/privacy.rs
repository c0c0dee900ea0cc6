//! Privacy requests a vendor forwards (Shopify's mandatory `customers/redact`,
//! `customers/data_request` and `shop/redact`) and what the shop keeps of what people tell it:
//! what each request makes the host do, the file a data request is answered in, and how much of a
//! birthday is kept. The host's privacy service carries the requests out.

use crate::model::{Birthday, PrivacyKind};
use serde::Deserialize;
use std::path::PathBuf;

/// `[privacy]`: how much of a birthday is kept, and where answers to data requests are written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Keep the year of a birthday a source gives. Off by default: a birthday message needs the day
    /// and month only, and the year is an age.
    #[serde(default)]
    pub keep_birth_year: bool,
    /// Where the answer to a data request is written, one JSON file per request (relative to the
    /// config file). Default: `data-requests` beside the config file.
    #[serde(default = "default_answers")]
    pub data_requests: PathBuf,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            keep_birth_year: false,
            data_requests: default_answers(),
        }
    }
}

fn default_answers() -> PathBuf {
    PathBuf::from("data-requests")
}

/// A birthday as the shop keeps it: without its year unless `keep_year`.
pub fn kept_birthday(birthday: Birthday, keep_year: bool) -> Birthday {
    Birthday {
        year: birthday.year.filter(|_| keep_year),
        ..birthday
    }
}

/// What the host does about a privacy request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Forget every person the request names, as `rapport forget` does (the sinks are told too).
    Forget,
    /// Write what the host holds on the people it names to a file for the shop to send on.
    Export,
    /// Record it and say so: the host holds nothing about a shop apart from its people, who are
    /// forgotten one by one through their own requests or `rapport forget`.
    Acknowledge,
}

/// What a request of `kind` makes the host do.
pub fn action(kind: PrivacyKind) -> Action {
    match kind {
        PrivacyKind::Redact => Action::Forget,
        PrivacyKind::DataRequest => Action::Export,
        PrivacyKind::ShopRedact => Action::Acknowledge,
    }
}

/// The file name of the answer to data request `request_id` from `source_id`: both kept to
/// letters, digits, `-` and `_` (anything else becomes `_`), so a vendor's id can never name a path.
pub fn export_file_name(source_id: &str, request_id: &str) -> String {
    let safe = |text: &str| -> String {
        text.chars()
            .map(
                |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    true => c,
                    false => '_',
                },
            )
            .collect()
    };
    format!("{}-{}.json", safe(source_id), safe(request_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_birthday_loses_its_year_unless_the_shop_keeps_it() {
        let born = Birthday {
            month: 2,
            day: 29,
            year: Some(1992),
        };
        assert_eq!(
            kept_birthday(born, false),
            Birthday {
                month: 2,
                day: 29,
                year: None
            }
        );
        assert_eq!(kept_birthday(born, true), born);
    }

    #[test]
    fn each_request_kind_has_its_action() {
        assert_eq!(action(PrivacyKind::Redact), Action::Forget);
        assert_eq!(action(PrivacyKind::DataRequest), Action::Export);
        assert_eq!(action(PrivacyKind::ShopRedact), Action::Acknowledge);
    }

    #[test]
    fn a_vendors_request_id_never_escapes_the_directory() {
        assert_eq!(
            export_file_name("shopify", "../../etc/passwd"),
            "shopify-______etc_passwd.json"
        );
        assert_eq!(export_file_name("shop", "9999"), "shop-9999.json");
    }
}
