//! Birthdays as 0.3 sources read them: one reading of `YYYY-MM-DD` (with `0000` for "no year") for
//! every 0.3 source, so Square and a CSV export agree on what a valid birthday is and say the same
//! thing when one is not.

use crate::v0_3::types::Birthday;

/// A birthday written `YYYY-MM-DD`, or `0000-MM-DD` when the person gave no year (as Square
/// writes it, and as the CSV export takes it). The day must exist in its month (29 February in a
/// leap year, or in any year when the year is unknown).
pub fn parse(text: &str) -> Result<Birthday, String> {
    let b = text.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shaped {
        return Err("expected YYYY-MM-DD, or 0000-MM-DD without the year".into());
    }
    let number = |range: std::ops::Range<usize>| -> u16 {
        text[range]
            .bytes()
            .fold(0, |n, d| n * 10 + u16::from(d - b'0'))
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    if !(1..=12).contains(&month) {
        return Err(format!("there is no month {month}"));
    }
    let year = (year != 0).then_some(year);
    let last = match month {
        2 if year.is_some_and(|y| !leap(y)) => 28,
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=last).contains(&day) {
        let of = year.map_or_else(String::new, |y| format!(" of {y}"));
        return Err(format!("month {month}{of} has no day {day}"));
    }
    Ok(Birthday {
        month: month as u8,
        day: day as u8,
        year,
    })
}

fn leap(year: u16) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(month: u8, day: u8, year: Option<u16>) -> Birthday {
        Birthday { month, day, year }
    }

    #[test]
    fn birthdays_with_and_without_a_year() {
        assert_eq!(parse("1998-09-21"), Ok(day(9, 21, Some(1998))));
        assert_eq!(parse("0000-09-21"), Ok(day(9, 21, None)));
        assert_eq!(parse("0000-02-29"), Ok(day(2, 29, None)));
        assert_eq!(parse("2000-02-29"), Ok(day(2, 29, Some(2000))));
        assert_eq!(parse("1996-02-29"), Ok(day(2, 29, Some(1996))));
        assert_eq!(parse("1990-12-31"), Ok(day(12, 31, Some(1990))));
    }

    #[test]
    fn birthdays_that_are_not_dates_say_why() {
        assert_eq!(
            parse("1900-02-29"),
            Err("month 2 of 1900 has no day 29".into())
        );
        assert_eq!(parse("0000-04-31"), Err("month 4 has no day 31".into()));
        assert_eq!(parse("1990-13-01"), Err("there is no month 13".into()));
        assert_eq!(parse("1990-00-10"), Err("there is no month 0".into()));
        assert_eq!(
            parse("1990-01-00"),
            Err("month 1 of 1990 has no day 0".into())
        );
        for shapeless in [
            "21/09/1998",
            "1998-9-21",
            "1998-09-21T00:00:00Z",
            "",
            "１９９８-09-21",
        ] {
            assert_eq!(
                parse(shapeless),
                Err("expected YYYY-MM-DD, or 0000-MM-DD without the year".into()),
                "{shapeless}"
            );
        }
    }
}
