//! Dates and times for the simulators, without a date crate: RFC 3339 text from Unix seconds (in
//! UTC or at a fixed offset), RFC 3339 text back to Unix milliseconds, and Howard Hinnant's
//! civil-date conversions underneath.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch now (0 if the clock is before it).
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `unix` seconds as RFC 3339 in UTC with a `Z`: `2026-10-01T09:00:00Z`.
pub fn rfc3339_utc(unix: i64) -> String {
    format!("{}Z", date_time(unix))
}

/// `unix` seconds as RFC 3339 local time at `offset_minutes` east of UTC, with a numeric offset:
/// `2026-10-01T05:00:00-04:00` (an offset of 0 is written `+00:00`).
pub fn rfc3339_at_offset(unix: i64, offset_minutes: i64) -> String {
    let off = offset_minutes.abs();
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    format!(
        "{}{sign}{:02}:{:02}",
        date_time(unix + offset_minutes * 60),
        off / 60,
        off % 60
    )
}

/// `YYYY-MM-DDTHH:MM:SS` of `unix` seconds, without a zone.
fn date_time(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Milliseconds since the epoch of an RFC 3339 time (`YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`, `T`
/// and `Z` in either case; fractions beyond milliseconds are truncated), or `None` if `value` is
/// not one.
pub fn rfc3339_millis(value: &str) -> Option<i64> {
    let b = value.as_bytes();
    let num =
        |from: usize, len: usize| -> Option<i64> { value.get(from..from + len)?.parse().ok() };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, m, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hh, mm, ss) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut rest = &value[19..];
    let mut ms = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        ms = format!("{:0<3}", &fraction[..digits.min(3)]).parse().ok()?;
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (rest[1..3].parse::<i64>().ok()? * 60 + rest[4..6].parse::<i64>().ok()?)
        }
        _ => return None,
    };
    let days = days_from_civil(y, m, d);
    Some((days * 86_400 + hh * 3600 + mm * 60 + ss - offset * 60) * 1000 + ms)
}

/// Howard Hinnant's days-to-civil conversion: (year, month, day) of a day number (0 is
/// 1970-01-01).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Howard Hinnant's civil-to-days conversion: the day number (0 is 1970-01-01) of a date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let (yy, mp) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mp + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_and_offsets() {
        assert_eq!(rfc3339_utc(1_790_845_200), "2026-10-01T09:00:00Z");
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_at_offset(1_790_845_200, -4 * 60),
            "2026-10-01T05:00:00-04:00"
        );
        assert_eq!(
            rfc3339_at_offset(1_790_845_200, 0),
            "2026-10-01T09:00:00+00:00"
        );
        assert_eq!(
            rfc3339_at_offset(1_790_845_200, 5 * 60 + 30),
            "2026-10-01T14:30:00+05:30"
        );
    }

    #[test]
    fn parses_rfc3339() {
        assert_eq!(rfc3339_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_millis("2026-10-01T09:00:00.250Z"),
            Some(1_790_845_200_250)
        );
        assert_eq!(
            rfc3339_millis("2026-10-01T11:00:00+02:00"),
            Some(1_790_845_200_000)
        );
        assert_eq!(
            rfc3339_millis("2026-10-01t11:00:00+02:00"),
            Some(1_790_845_200_000)
        );
        assert_eq!(
            rfc3339_millis("2026-10-01T05:00:00-04:00"),
            Some(1_790_845_200_000)
        );
        assert_eq!(rfc3339_millis("2026-10-01T09:00:00x05:00"), None);
        assert_eq!(rfc3339_millis("yesterday"), None);
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-719_468, -1, 0, 59, 60, 20_727, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
