//! Arbitrary vendor input for property tests of a connector's parsers (feature `fuzz`): JSON
//! documents whose keys are mostly the vendor's own field names, so generated input reaches deep
//! into a mapper instead of failing at its first lookup, and raw bytes. A parser must answer any of
//! them with a value or an error naming what was wrong, never a panic.

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// JSON values up to a few levels deep whose object keys are drawn mostly from `fields` (the names
/// a vendor uses), and whose strings are often `texts` (values the vendor uses: dates, states,
/// currencies, numbers written as text).
pub fn vendor_json(
    fields: &'static [&'static str],
    texts: &'static [&'static str],
) -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        3 => prop::sample::select(texts).prop_map(str::to_string),
        1 => ".{0,16}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1.0e6f64..1.0e6).prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text.prop_map(Value::String),
    ];
    let key = prop_oneof![
        4 => prop::sample::select(fields).prop_map(str::to_string),
        1 => "[a-z_]{1,10}",
    ];
    leaf.prop_recursive(5, 96, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..10)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Raw bytes: mostly text, sometimes anything.
pub fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => ".{0,512}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
}

/// `example` (a real vendor document) with parts of it changed: each field kept and itself changed
/// the same way, dropped, or replaced by something from `arbitrary`; each array item likewise. The
/// result mostly looks like what the vendor sends, so a mapper gets past its first checks.
pub fn mutated(example: Value, arbitrary: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    match example {
        Value::Object(fields) => fields
            .into_iter()
            .map(|(name, value)| {
                let (kept, replaced) = (name.clone(), name);
                prop_oneof![
                    8 => mutated(value, arbitrary.clone()).prop_map(move |v| Some((kept.clone(), v))),
                    1 => Just(None),
                    1 => arbitrary.clone().prop_map(move |v| Some((replaced.clone(), v))),
                ]
                .boxed()
            })
            .collect::<Vec<_>>()
            .prop_map(|fields| Value::Object(fields.into_iter().flatten().collect()))
            .boxed(),
        Value::Array(items) => items
            .into_iter()
            .map(|item| {
                prop_oneof![
                    8 => mutated(item, arbitrary.clone()).prop_map(Some),
                    1 => Just(None),
                    1 => arbitrary.clone().prop_map(Some),
                ]
                .boxed()
            })
            .collect::<Vec<_>>()
            .prop_map(|items| Value::Array(items.into_iter().flatten().collect()))
            .boxed(),
        leaf => prop_oneof![8 => Just(leaf), 2 => arbitrary].boxed(),
    }
}
