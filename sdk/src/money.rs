//! Exact decimal strings to minor units and quantities, never through floats: vendors send
//! "12.50", the contract wants `{minor: 1250, currency: "USD"}`, and a rounding error in a
//! customer's lifetime value is a bug nobody finds.

use crate::types::{Decimal, Money};
use thiserror::Error;

/// Why an amount could not become [`Money`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    /// The currency code is not one ISO 4217 knows.
    #[error("currency {0:?} is not an ISO 4217 code")]
    Currency(String),
    /// The amount is not a decimal number.
    #[error("amount {0:?} is not a decimal number")]
    NotDecimal(String),
    /// The amount has more decimal places than the currency's minor unit.
    #[error("amount {amount:?} has more decimal places than {currency} allows ({exponent})")]
    TooPrecise {
        /// The amount as given.
        amount: String,
        /// Its currency.
        currency: String,
        /// The decimal places the currency allows.
        exponent: u8,
    },
    /// The amount does not fit in minor units.
    #[error("amount {0:?} is too large")]
    Overflow(String),
    /// A unit price times a quantity does not fit in minor units.
    #[error("{quantity} × {minor} minor units is too large")]
    ProductOverflow {
        /// The unit price in minor units.
        minor: i64,
        /// The quantity as given.
        quantity: String,
    },
    /// Amounts of different currencies were added.
    #[error("an amount in {found} cannot be added to amounts in {expected}")]
    CurrencyMismatch {
        /// The currency of the amounts before.
        expected: String,
        /// The currency of the one that differs.
        found: String,
    },
    /// A sum does not fit in minor units.
    #[error("the sum of the amounts in {0} is too large")]
    SumOverflow(String),
}

/// Why a quantity could not become a [`Decimal`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecimalError {
    /// The quantity is not a number.
    #[error("quantity {0:?} is not a number")]
    NotDecimal(String),
    /// The quantity has more digits than a decimal holds.
    #[error("quantity {0:?} has too many digits")]
    Overflow(String),
}

/// The number of decimal places of `currency`'s minor unit (2 for USD, 0 for JPY, 3 for KWD).
/// Well-formed codes missing from the table default to 2.
pub fn exponent(currency: &str) -> Result<u8, MoneyError> {
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(MoneyError::Currency(currency.to_owned()));
    }
    Ok(match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    })
}

/// Parses an exact decimal amount in major units ("12.50", "-3", "12.500") into `currency`'s
/// minor units. Rejects exponents, separators, and non-zero digits beyond the currency's exponent.
pub fn parse_money(amount: &str, currency: &str) -> Result<Money, MoneyError> {
    let exp = exponent(currency)?;
    let parts = split(amount).ok_or_else(|| MoneyError::NotDecimal(amount.to_owned()))?;
    let (kept, dropped) = parts
        .fraction
        .split_at(parts.fraction.len().min(exp.into()));
    if dropped.bytes().any(|b| b != b'0') {
        return Err(MoneyError::TooPrecise {
            amount: amount.to_owned(),
            currency: currency.to_owned(),
            exponent: exp,
        });
    }
    let padding = usize::from(exp) - kept.len();
    let minor = digits_value(parts.integer.bytes().chain(kept.bytes()))
        .and_then(|v| v.checked_mul(10i64.checked_pow(padding as u32)?))
        .map(|v| if parts.negative { -v } else { v })
        .ok_or_else(|| MoneyError::Overflow(amount.to_owned()))?;
    Ok(Money {
        minor,
        currency: currency.to_owned(),
    })
}

/// `minor` units of `currency`, for vendors that already count in minor units (Square's
/// `{"amount": 550, "currency": "USD"}`): the code is checked as [`exponent`] checks it, so a
/// malformed one is refused at the edge rather than stored.
pub fn from_minor(minor: i64, currency: &str) -> Result<Money, MoneyError> {
    exponent(currency)?;
    Ok(Money {
        minor,
        currency: currency.to_owned(),
    })
}

/// The sum of `amounts` in `currency` (zero when there are none). Amounts in another currency are
/// refused, never converted; a sum beyond `i64` is an error, never wrapped.
pub fn sum<'a>(
    currency: &str,
    amounts: impl IntoIterator<Item = &'a Money>,
) -> Result<Money, MoneyError> {
    let mut total = from_minor(0, currency)?;
    for amount in amounts {
        if amount.currency != currency {
            return Err(MoneyError::CurrencyMismatch {
                expected: currency.to_owned(),
                found: amount.currency.clone(),
            });
        }
        total.minor = total
            .minor
            .checked_add(amount.minor)
            .ok_or_else(|| MoneyError::SumOverflow(currency.to_owned()))?;
    }
    Ok(total)
}

/// Parses an exact decimal number ("1.5", "-2", "0.250") into a [`Decimal`], keeping its scale.
pub fn parse_decimal(value: &str) -> Result<Decimal, DecimalError> {
    let parts = split(value).ok_or_else(|| DecimalError::NotDecimal(value.to_owned()))?;
    let overflow = || DecimalError::Overflow(value.to_owned());
    let scale = u8::try_from(parts.fraction.len()).map_err(|_| overflow())?;
    let units = digits_value(parts.integer.bytes().chain(parts.fraction.bytes()))
        .map(|v| if parts.negative { -v } else { v })
        .ok_or_else(overflow)?;
    Ok(Decimal { units, scale })
}

/// `price × quantity`, rounded half away from zero to the currency's minor unit.
pub fn times(price: &Money, quantity: &Decimal) -> Result<Money, MoneyError> {
    let overflow = || MoneyError::ProductOverflow {
        minor: price.minor,
        quantity: decimal_string(quantity),
    };
    let divisor = 10i128
        .checked_pow(quantity.scale.into())
        .ok_or_else(overflow)?;
    let product = i128::from(price.minor) * i128::from(quantity.units);
    let (quotient, remainder) = (product / divisor, product % divisor);
    let rounded = if remainder.abs() * 2 >= divisor {
        quotient + product.signum()
    } else {
        quotient
    };
    Ok(Money {
        minor: i64::try_from(rounded).map_err(|_| overflow())?,
        currency: price.currency.clone(),
    })
}

/// `d` written as a plain decimal string ("-1.50").
fn decimal_string(d: &Decimal) -> String {
    let scale = usize::from(d.scale);
    let digits = format!("{:0>width$}", d.units.unsigned_abs(), width = scale + 1);
    let (integer, fraction) = digits.split_at(digits.len() - scale);
    let sign = if d.units < 0 { "-" } else { "" };
    if fraction.is_empty() {
        format!("{sign}{integer}")
    } else {
        format!("{sign}{integer}.{fraction}")
    }
}

struct Parts<'a> {
    negative: bool,
    integer: &'a str,
    fraction: &'a str,
}

/// Splits `-?[0-9]+(\.[0-9]+)?`; anything else is not a plain decimal.
fn split(value: &str) -> Option<Parts<'_>> {
    let (negative, unsigned) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (integer, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let fraction_ok = !unsigned.contains('.') || !fraction.is_empty();
    (!integer.is_empty() && all_digits(integer) && all_digits(fraction) && fraction_ok).then_some(
        Parts {
            negative,
            integer,
            fraction,
        },
    )
}

fn digits_value(mut digits: impl Iterator<Item = u8>) -> Option<i64> {
    digits.try_fold(0i64, |acc, d| {
        acc.checked_mul(10)?.checked_add(i64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minor(amount: &str, currency: &str) -> i64 {
        parse_money(amount, currency).unwrap().minor
    }

    #[test]
    fn exponents_follow_iso_4217() {
        assert_eq!(exponent("USD"), Ok(2));
        assert_eq!(exponent("JPY"), Ok(0));
        assert_eq!(exponent("KWD"), Ok(3));
        assert_eq!(exponent("CLF"), Ok(4));
        assert_eq!(exponent("ZZZ"), Ok(2));
        assert_eq!(exponent("US"), Err(MoneyError::Currency("US".into())));
        assert_eq!(exponent("usd"), Err(MoneyError::Currency("usd".into())));
    }

    #[test]
    fn amounts_become_minor_units() {
        assert_eq!(minor("12.50", "USD"), 1250);
        assert_eq!(minor("12.5", "USD"), 1250);
        assert_eq!(minor("12", "USD"), 1200);
        assert_eq!(minor("-3.07", "USD"), -307);
        assert_eq!(minor("12.500", "USD"), 1250);
        assert_eq!(minor("500", "JPY"), 500);
        assert_eq!(minor("500.00", "JPY"), 500);
        assert_eq!(minor("1.234", "KWD"), 1234);
        assert_eq!(minor("0.0001", "CLF"), 1);
        assert_eq!(minor("-0.00", "USD"), 0);
        assert_eq!(parse_money("1", "EUR").unwrap().currency, "EUR");
    }

    #[test]
    fn malformed_amounts_are_explained() {
        for bad in [
            "1e3", "12,50", "1,000.00", "", "-", ".5", "5.", "+5", " 5", "1.2.3", "NaN",
        ] {
            assert_eq!(
                parse_money(bad, "USD"),
                Err(MoneyError::NotDecimal(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            parse_money("12,50", "USD").unwrap_err().to_string(),
            r#"amount "12,50" is not a decimal number"#
        );
        assert_eq!(
            parse_money("12.505", "USD").unwrap_err().to_string(),
            r#"amount "12.505" has more decimal places than USD allows (2)"#
        );
        assert!(matches!(
            parse_money("1.5", "JPY"),
            Err(MoneyError::TooPrecise { exponent: 0, .. })
        ));
        assert_eq!(
            parse_money("92233720368547758.08", "USD"),
            Err(MoneyError::Overflow("92233720368547758.08".into()))
        );
        assert_eq!(minor("92233720368547758.07", "USD"), i64::MAX);
        assert_eq!(
            parse_money("1", "US").unwrap_err().to_string(),
            r#"currency "US" is not an ISO 4217 code"#
        );
    }

    #[test]
    fn minor_units_keep_their_currency_once_checked() {
        assert_eq!(
            from_minor(1234, "KWD"),
            Ok(Money {
                minor: 1234,
                currency: "KWD".into()
            })
        );
        assert_eq!(
            from_minor(5, "jpy"),
            Err(MoneyError::Currency("jpy".into()))
        );
    }

    #[test]
    fn sums_stay_in_one_currency() {
        let m = |minor, currency: &str| Money {
            minor,
            currency: currency.into(),
        };
        let kwd = [m(1500, "KWD"), m(12_345, "KWD"), m(-5, "KWD")];
        assert_eq!(sum("KWD", &kwd).unwrap(), m(13_840, "KWD"));
        assert_eq!(sum("JPY", []).unwrap(), m(0, "JPY"));
        assert_eq!(
            sum("USD", &[m(100, "USD"), m(100, "EUR")])
                .unwrap_err()
                .to_string(),
            "an amount in EUR cannot be added to amounts in USD"
        );
        assert_eq!(
            sum("USD", &[m(i64::MAX, "USD"), m(1, "USD")]),
            Err(MoneyError::SumOverflow("USD".into()))
        );
    }

    #[test]
    fn decimals_keep_their_scale() {
        assert_eq!(
            parse_decimal("1.5"),
            Ok(Decimal {
                units: 15,
                scale: 1
            })
        );
        assert_eq!(parse_decimal("2"), Ok(Decimal { units: 2, scale: 0 }));
        assert_eq!(
            parse_decimal("-0.250"),
            Ok(Decimal {
                units: -250,
                scale: 3
            })
        );
        assert_eq!(
            parse_decimal("abc").unwrap_err().to_string(),
            r#"quantity "abc" is not a number"#
        );
        assert!(matches!(
            parse_decimal("99999999999999999999"),
            Err(DecimalError::Overflow(_))
        ));
    }

    #[test]
    fn multiplication_rounds_half_away_from_zero() {
        let price = |minor| Money {
            minor,
            currency: "USD".into(),
        };
        let qty = |s| parse_decimal(s).unwrap();
        assert_eq!(times(&price(250), &qty("3")).unwrap().minor, 750);
        assert_eq!(times(&price(199), &qty("1.5")).unwrap().minor, 299);
        assert_eq!(times(&price(333), &qty("0.5")).unwrap().minor, 167);
        assert_eq!(times(&price(333), &qty("-0.5")).unwrap().minor, -167);
        assert_eq!(times(&price(1000), &qty("0.333")).unwrap().minor, 333);
        assert_eq!(
            times(&price(i64::MAX), &qty("-2.50"))
                .unwrap_err()
                .to_string(),
            format!("-2.50 × {} minor units is too large", i64::MAX)
        );
    }
}
