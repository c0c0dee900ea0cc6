//! Vendor timestamps to the contract's `timestamp` (UTC milliseconds) and back, without a date
//! crate: RFC 3339 and the `YYYY-MM-DD HH:MM[:SS]` (UTC) form that spreadsheet exports use.

use crate::types::Timestamp;
use thiserror::Error;

/// Why a string is not a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("timestamp {value:?} is not valid: {reason}")]
pub struct TimeError {
    /// The string as given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

const MS_PER_DAY: i64 = 86_400_000;

/// Parses `2026-11-02T14:31:00Z`, `2026-11-02T16:31:00.250+02:00` (RFC 3339) or
/// `2026-11-02 14:31[:00]` (UTC) into milliseconds since the Unix epoch. Fractional seconds beyond
/// milliseconds are truncated; a `T` form without a zone is refused as ambiguous.
pub fn parse_timestamp(value: &str) -> Result<Timestamp, TimeError> {
    parse(value).map_err(|reason| TimeError {
        value: value.to_owned(),
        reason,
    })
}

/// [`parse_timestamp`] of a vendor record's `field`, failing with a rejection reason that names
/// the field: `updated_at: timestamp "x" is not valid: …`.
pub fn parse_field(value: &str, field: &str) -> Result<Timestamp, String> {
    parse_timestamp(value).map_err(|e| format!("{field}: {e}"))
}

/// Formats `ms` as RFC 3339 in UTC: `2026-11-02T14:31:00Z`, with `.250` when there are
/// milliseconds.
pub fn format_timestamp(ms: Timestamp) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let ms_of_day = ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let (seconds, millis) = (ms_of_day / 1000, ms_of_day % 1000);
    let time = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    if millis == 0 {
        format!("{time}Z")
    } else {
        format!("{time}.{millis:03}Z")
    }
}

const EXPECTED: &str = "expected RFC 3339 (2026-11-02T14:31:00Z) or YYYY-MM-DD HH:MM[:SS] in UTC";

fn parse(value: &str) -> Result<Timestamp, String> {
    let mut s = Scanner(value.as_bytes());
    let year = s.number(4).ok_or(EXPECTED)?;
    s.expect(b'-')?;
    let month = s.number(2).ok_or(EXPECTED)?;
    s.expect(b'-')?;
    let day = s.number(2).ok_or(EXPECTED)?;
    let separator = s.next().ok_or(EXPECTED)?;
    if !matches!(separator, b'T' | b't' | b' ') {
        return Err(EXPECTED.into());
    }
    let hour = s.number(2).ok_or(EXPECTED)?;
    s.expect(b':')?;
    let minute = s.number(2).ok_or(EXPECTED)?;
    let second = if s.eat(b':') {
        s.number(2).ok_or(EXPECTED)?
    } else {
        0
    };
    let millis = if s.eat(b'.') { s.fraction_ms()? } else { 0 };
    let offset_minutes = match s.next() {
        None if separator == b' ' => 0,
        None => return Err("it has no time zone (add Z or an offset like +02:00)".into()),
        Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let hours = s.number(2).ok_or(EXPECTED)?;
            s.expect(b':')?;
            let minutes = s.number(2).ok_or(EXPECTED)?;
            if hours > 23 || minutes > 59 {
                return Err(format!("offset {hours:02}:{minutes:02} is out of range"));
            }
            let total = hours * 60 + minutes;
            if sign == b'-' {
                -total
            } else {
                total
            }
        }
        Some(_) => return Err(EXPECTED.into()),
    };
    if !s.0.is_empty() {
        return Err(EXPECTED.into());
    }
    if !(1..=12).contains(&month) {
        return Err(format!("month {month} is out of range"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(format!("day {day} does not exist in {year:04}-{month:02}"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!(
            "time {hour:02}:{minute:02}:{second:02} is out of range"
        ));
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_minutes * 60;
    Ok(seconds * 1000 + millis)
}

/// A cursor over the bytes of a timestamp.
struct Scanner<'a>(&'a [u8]);

impl Scanner<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn eat(&mut self, byte: u8) -> bool {
        let matched = self.0.first() == Some(&byte);
        if matched {
            self.0 = &self.0[1..];
        }
        matched
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(EXPECTED.into())
        }
    }

    /// Exactly `width` ASCII digits.
    fn number(&mut self, width: usize) -> Option<i64> {
        let digits = self.0.get(..width)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.0 = &self.0[width..];
        Some(
            digits
                .iter()
                .fold(0, |acc, d| acc * 10 + i64::from(d - b'0')),
        )
    }

    /// One or more digits after the decimal point, as whole milliseconds (truncated).
    fn fraction_ms(&mut self) -> Result<i64, String> {
        let len = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 {
            return Err(EXPECTED.into());
        }
        let ms = self.0[..len]
            .iter()
            .chain(b"000")
            .take(3)
            .fold(0, |acc, d| acc * 10 + i64::from(d - b'0'));
        self.0 = &self.0[len..];
        Ok(ms)
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_2: i64 = 1_793_629_860_000; // 2026-11-02T14:31:00Z

    fn ms(value: &str) -> i64 {
        parse_timestamp(value).unwrap()
    }

    fn reason(value: &str) -> String {
        parse_timestamp(value).unwrap_err().reason
    }

    #[test]
    fn rfc3339_forms_parse() {
        assert_eq!(ms("1970-01-01T00:00:00Z"), 0);
        assert_eq!(ms("2026-11-02T14:31:00Z"), NOV_2);
        assert_eq!(ms("2026-11-02t14:31:00z"), NOV_2);
        assert_eq!(ms("2026-11-02T16:31:00+02:00"), NOV_2);
        assert_eq!(ms("2026-11-02T09:01:00-05:30"), NOV_2);
        assert_eq!(ms("2026-11-02T14:31:00.25Z"), NOV_2 + 250);
        assert_eq!(ms("2026-11-02T14:31:00.123456789Z"), NOV_2 + 123);
        assert_eq!(ms("1969-12-31T23:59:59.999Z"), -1);
        assert_eq!(ms("2024-02-29T00:00:00Z"), 1_709_164_800_000);
    }

    #[test]
    fn spreadsheet_forms_are_utc() {
        assert_eq!(ms("2026-11-02 14:31"), NOV_2);
        assert_eq!(ms("2026-11-02 14:31:00"), NOV_2);
        assert_eq!(ms("2026-11-02 16:31:00+02:00"), NOV_2);
    }

    #[test]
    fn bad_timestamps_are_explained() {
        assert_eq!(reason("2026-13-01 00:00"), "month 13 is out of range");
        assert_eq!(
            reason("2026-02-29 00:00"),
            "day 29 does not exist in 2026-02"
        );
        assert_eq!(reason("2026-11-02 24:00"), "time 24:00:00 is out of range");
        assert!(reason("2026-11-02T14:31:00").contains("no time zone"));
        for bad in [
            "yesterday",
            "",
            "2026-11-02",
            "02/11/2026 14:31",
            "2026-11-02T14:31:00Zjunk",
            "2026-11-02T14:31:00.Z",
            "2026-11-02T14:31:00+0200",
        ] {
            assert!(reason(bad).starts_with("expected RFC 3339"), "{bad}");
        }
        assert_eq!(
            parse_timestamp("soon").unwrap_err().to_string(),
            format!(r#"timestamp "soon" is not valid: {EXPECTED}"#)
        );
    }

    #[test]
    fn field_errors_name_the_field() {
        assert_eq!(parse_field("2026-11-02T14:31:00Z", "updated_at"), Ok(NOV_2));
        assert_eq!(
            parse_field("soon", "created_at"),
            Err(format!(
                r#"created_at: timestamp "soon" is not valid: {EXPECTED}"#
            ))
        );
    }

    #[test]
    fn formatting_round_trips() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timestamp(NOV_2), "2026-11-02T14:31:00Z");
        assert_eq!(format_timestamp(NOV_2 + 5), "2026-11-02T14:31:00.005Z");
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59.999Z");
        for day in (-719_000..2_900_000).step_by(997) {
            let t = day * MS_PER_DAY + 12_345_678;
            assert_eq!(ms(&format_timestamp(t)), t);
        }
    }
}
