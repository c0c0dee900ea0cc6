//! Money written the way most vendor APIs want it on the wire: an exact decimal string in major
//! units ("12.50" for 1250 USD cents), built from the integer minor units without floats.

use crate::money::{exponent, MoneyError};
use crate::types::Money;

/// `money` in major units with exactly its currency's number of decimal places: 1250 USD is
/// "12.50", 500 JPY is "500", -5 KWD is "-0.005". Fails only for a malformed currency code.
pub fn major_units(money: &Money) -> Result<String, MoneyError> {
    let places = usize::from(exponent(&money.currency)?);
    let digits = format!(
        "{:0>width$}",
        money.minor.unsigned_abs(),
        width = places + 1
    );
    let (integer, fraction) = digits.split_at(digits.len() - places);
    let sign = if money.minor < 0 { "-" } else { "" };
    Ok(if fraction.is_empty() {
        format!("{sign}{integer}")
    } else {
        format!("{sign}{integer}.{fraction}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn major(minor: i64, currency: &str) -> String {
        major_units(&Money {
            minor,
            currency: currency.into(),
        })
        .unwrap()
    }

    #[test]
    fn minor_units_become_exact_major_unit_decimals() {
        assert_eq!(major(1250, "USD"), "12.50");
        assert_eq!(major(5, "USD"), "0.05");
        assert_eq!(major(0, "EUR"), "0.00");
        assert_eq!(major(-1999, "USD"), "-19.99");
        assert_eq!(major(500, "JPY"), "500");
        assert_eq!(major(-5, "KWD"), "-0.005");
        assert_eq!(major(i64::MIN, "USD"), "-92233720368547758.08");
        assert_eq!(
            major_units(&Money {
                minor: 1,
                currency: "usd".into()
            }),
            Err(MoneyError::Currency("usd".into()))
        );
    }
}
