//! Phone numbers: E.164, with the shop's region for numbers written without a country code. The
//! numbering plans come from the `phonenumber` crate (Google's libphonenumber metadata); no country
//! rules are written here.

use phonenumber::country::Id;
use phonenumber::Mode;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// Most numbers a [`Reader`] remembers; past this it forgets them all and starts again.
const REMEMBERED: usize = 1 << 16;

/// Numbers as written, each with its E.164 form (`None`: not a valid number).
type Read = HashMap<Box<str>, Option<Box<str>>>;

/// Where the shop is: an ISO 3166 alpha-2 region (`US`, `GB`) known to the numbering metadata.
/// Parsed once from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(Id);

impl Region {
    pub const US: Region = Region(Id::US);
}

/// Why a region code was refused.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a known ISO 3166 alpha-2 region code (like \"US\" or \"GB\")")]
pub struct RegionError(String);

impl FromStr for Region {
    type Err = RegionError;

    fn from_str(code: &str) -> Result<Region, RegionError> {
        let known = code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic());
        known
            .then(|| Id::from_str(&code.to_ascii_uppercase()).ok())
            .flatten()
            .map(Region)
            .ok_or_else(|| RegionError(code.to_string()))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_ref())
    }
}

/// Reads phone numbers as one shop's region dials them, remembering the numbers it read: reading
/// one against the numbering plans costs tens of microseconds, and repeat customers give the same
/// number again and again. Clones share what they remember.
#[derive(Clone)]
pub(super) struct Reader {
    region: Region,
    read: Arc<Mutex<Read>>,
}

impl Reader {
    pub(super) fn new(region: Region) -> Reader {
        Reader {
            region,
            read: Arc::default(),
        }
    }

    /// [`normalize`] with this reader's region.
    pub(super) fn normalize(&self, raw: &str) -> Option<String> {
        if let Some(known) = self.read.lock().expect("phone memo").get(raw) {
            return known.as_deref().map(str::to_string);
        }
        let e164 = normalize(raw, self.region);
        let mut read = self.read.lock().expect("phone memo");
        if read.len() >= REMEMBERED {
            read.clear();
        }
        read.insert(raw.into(), e164.as_deref().map(Box::from));
        e164
    }
}

/// Readers are equal when they read numbers alike: what they remember is only a shortcut.
impl PartialEq for Reader {
    fn eq(&self, other: &Reader) -> bool {
        self.region == other.region
    }
}

impl Eq for Reader {}

/// Shows the region only: what a reader remembers is customers' numbers.
impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// `raw` in E.164 (`+` and digits); `None` unless it is a valid number. A leading `+` or `00` means
/// the number carries its country code; otherwise it is read as `region` would dial it.
pub(super) fn normalize(raw: &str, region: Region) -> Option<String> {
    let trimmed = raw.trim();
    // An international number is parsed without a region: given one, `phonenumber` strips that
    // region's national prefix from the foreign number (+44 1300… read from the US loses its 1).
    let e164 = match trimmed.strip_prefix("00") {
        Some(rest) => parse_e164(None, &format!("+{rest}")),
        None if trimmed.starts_with('+') => parse_e164(None, trimmed),
        None => parse_e164(Some(region.0), trimmed),
    }?;
    // Only a form that reads back as itself can key a person; `phonenumber` cannot re-read a few
    // valid numbers (Brazilian 0900 ones, for example).
    (parse_e164(None, &e164).as_deref() == Some(e164.as_str())).then_some(e164)
}

fn parse_e164(region: Option<Id>, text: &str) -> Option<String> {
    let number = phonenumber::parse(region, text).ok()?;
    number
        .is_valid()
        .then(|| number.format().mode(Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(code: &str) -> Region {
        code.parse().unwrap()
    }

    #[test]
    fn regions_are_iso_codes() {
        assert_eq!(region("US"), Region::US);
        assert_eq!(region("gb").to_string(), "GB");
        for bad in ["", "U", "USA", "ZZ", "1A", "U S", "Ü"] {
            let err = bad.parse::<Region>().unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn phones_become_e164() {
        for (code, raw, want) in [
            ("US", "(212) 555-0123", "+12125550123"),
            ("US", "212.555.0123", "+12125550123"),
            ("US", "1 212 555 0123", "+12125550123"),
            ("US", " +1 (415) 555-0100 ", "+14155550100"),
            ("US", "+12125550123", "+12125550123"),
            ("US", "(212) 555-0123 ext. 7", "+12125550123"),
            ("GB", "020 7946 0958", "+442079460958"),
            ("GB", "+44 20 7946 0958", "+442079460958"),
            ("US", "+44 20 7946 0958", "+442079460958"),
            ("US", "0044 20 7946 0958", "+442079460958"),
            ("GB", "0044 20 7946 0958", "+442079460958"),
            ("US", "011 44 20 7946 0958", "+442079460958"),
            ("GB", "+1 212 555 0123", "+12125550123"),
            ("GB", "001 212 555 0123", "+12125550123"),
            // A foreign number that begins with the shop region's national prefix keeps it.
            ("US", "+44 1300 000000", "+441300000000"),
            ("GB", "+39 06 6988 4051", "+390669884051"),
        ] {
            assert_eq!(
                normalize(raw, region(code)).as_deref(),
                Some(want),
                "{code} {raw:?}"
            );
        }
    }

    #[test]
    fn a_reader_answers_a_number_again_as_it_first_did() {
        let reader = Reader::new(region("US"));
        for _ in 0..2 {
            assert_eq!(
                reader.normalize("(212) 555-0123").as_deref(),
                Some("+12125550123")
            );
            assert_eq!(reader.normalize("(555) 201-0123"), None);
        }
        assert_eq!(reader, Reader::new(region("US")));
        assert_ne!(reader, Reader::new(region("GB")));
        assert!(!format!("{reader:?}").contains("212"));
    }

    #[test]
    fn invalid_phones_are_refused() {
        for (code, raw) in [
            ("US", ""),
            ("US", "   "),
            ("US", "junk"),
            ("US", "call me"),
            ("US", "12"),
            ("US", "555 0123"),
            // Area code 555 does not exist.
            ("US", "(555) 201-0123"),
            ("US", "+1 (555) 010-9999"),
            // A GB national number means nothing in the US.
            ("US", "020 7946 0958"),
            ("GB", "020 7946 095"),
            ("GB", "+44 20 7946 0958 1234 5678"),
            ("US", "+"),
            ("US", "00"),
            ("US", "+999 1234 5678"),
            // Valid, but `phonenumber` cannot read its E.164 form (+55900000000) back.
            ("BR", "0900000000"),
        ] {
            assert_eq!(normalize(raw, region(code)), None, "{code} {raw:?}");
        }
    }
}
