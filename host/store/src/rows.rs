//! Set-at-a-time SQL: statements that write or read many rows at once (`VALUES (…), (…)` and
//! `IN (…)` lists), chunked to stay inside both databases' parameter limits. The ingest and delivery
//! hot paths cost a handful of statements per batch this way, instead of several per row.

use super::dialect::{Backend, Placeholders};
use super::StoreError;
use rapport_core::model::{Channel, Identity, IdentityKind};
use sqlx::any::AnyRow;
use sqlx::Row;
use sqlx::{AnyConnection, Executor};
use std::collections::HashMap;

/// Rows (or list entries) per statement: far below SQLite's 32,766 and PostgreSQL's 65,535
/// parameters for the widest statement here, and large enough that a batch takes few statements.
const ROWS_PER_STATEMENT: usize = 400;

/// A value bound to a statement parameter.
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    Text(&'a str),
    Int(i64),
    MaybeText(Option<&'a str>),
    MaybeInt(Option<i64>),
    MaybeReal(Option<f64>),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(v)
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(v)
    }
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Value::MaybeText(v)
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(v: Option<i64>) -> Self {
        Value::MaybeInt(v)
    }
}

impl From<Option<f64>> for Value<'_> {
    fn from(v: Option<f64>) -> Self {
        Value::MaybeReal(v)
    }
}

pub(super) type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds `value` to the query's next parameter.
pub(super) fn bind<'q>(query: Query<'q>, value: Value<'q>) -> Query<'q> {
    match value {
        Value::Text(v) => query.bind(v),
        Value::Int(v) => query.bind(v),
        Value::MaybeText(v) => query.bind(v),
        Value::MaybeInt(v) => query.bind(v),
        Value::MaybeReal(v) => query.bind(v),
    }
}

/// `($first, …), (…)`: placeholders for `rows` rows of `columns` values each.
fn value_rows(style: Placeholders, rows: usize, columns: usize, first: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            style.push(&mut sql, first + r * columns + c);
        }
        sql.push(')');
    }
    sql
}

/// Whether a statement that binds a NULL real (`None` as `Option<f64>`) may stay prepared on its
/// connection: it may not. sqlx 0.8.6's Any driver declares such a NULL to PostgreSQL as `float4`
/// (its `Real` and `Double` kinds are swapped), and the statement kept with that type refuses the
/// eight-byte `float8` a later execution binds (22P03, "incorrect binary data format"). Prepared
/// afresh each time, every execution declares its own types.
pub(super) fn may_persist(binds_null_real: bool) -> bool {
    !binds_null_real
}

/// Runs one statement with `values` bound in order.
async fn fetch<'v>(
    conn: &mut AnyConnection,
    sql: &str,
    values: impl Iterator<Item = &'v Value<'v>>,
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let mut query = sqlx::query(sql);
    let mut null_real = false;
    for value in values {
        null_real |= matches!(value, Value::MaybeReal(None));
        query = bind(query, *value);
    }
    conn.fetch_all(query.persistent(may_persist(null_real)))
        .await
}

/// Runs `{head} VALUES (…), (…) {tail}` for every row of `rows` (each of the same width), in
/// chunks. Returns what the statements returned (add `RETURNING …` to the tail to learn which rows
/// were written).
pub(super) async fn insert_values(
    conn: &mut AnyConnection,
    head: &str,
    tail: &str,
    rows: &[Vec<Value<'_>>],
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let mut returned = Vec::new();
    let Some(columns) = rows.first().map(Vec::len) else {
        return Ok(returned);
    };
    let style = Backend::of(conn).placeholders();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "{head} VALUES {} {tail}",
            value_rows(style, chunk.len(), columns, 1)
        );
        returned.extend(fetch(conn, &sql, chunk.iter().flatten()).await?);
    }
    Ok(returned)
}

/// Runs `sql` (a query, or an `UPDATE`/`INSERT … SELECT`), whose `{list}` stands for a
/// parenthesised list of placeholders, once per chunk of `list`; `params` are bound first, as
/// `$1…`. Returns every row the statements returned. (One column per list, not row values: SQLite
/// scans the whole table for `(a, b) IN (VALUES …)` where it searches an index for
/// `a = $1 AND b IN (…)`.)
pub(super) async fn query_in(
    conn: &mut AnyConnection,
    sql: &str,
    params: &[Value<'_>],
    list: &[Value<'_>],
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let mut found = Vec::new();
    let style = Backend::of(conn).placeholders();
    let sql = style.rewrite(sql);
    for chunk in list.chunks(ROWS_PER_STATEMENT) {
        let entries = value_rows(style, 1, chunk.len(), params.len() + 1);
        let sql = sql.replace("{list}", &entries);
        found.extend(fetch(conn, &sql, params.iter().chain(chunk)).await?);
    }
    Ok(found)
}

/// [`query_in`] for a list of ids.
pub(super) async fn query_ids(
    conn: &mut AnyConnection,
    sql: &str,
    params: &[Value<'_>],
    ids: &[i64],
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let list: Vec<Value> = ids.iter().map(|id| Value::Int(*id)).collect();
    query_in(conn, sql, params, &list).await
}

/// The people of `pairs` grouped by channel, for one statement per channel.
pub(super) fn by_channel(pairs: &[(i64, Channel)]) -> HashMap<Channel, Vec<i64>> {
    let mut grouped: HashMap<Channel, Vec<i64>> = HashMap::new();
    for (person, channel) in pairs {
        grouped.entry(*channel).or_default().push(*person);
    }
    grouped
}

/// Reads a text column holding one of an enum's serde names.
pub(crate) fn parse_enum<T: serde::de::DeserializeOwned>(
    column: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|_| StoreError::Corrupt(format!("{column} has unknown value {text:?}")))
}

/// Reads an identity from a row's `kind` and `value` columns.
pub(crate) fn identity(row: &sqlx::any::AnyRow) -> Result<Identity, StoreError> {
    identity_of(&row.try_get::<String, _>("kind")?, row.try_get("value")?)
}

/// The identity a stored `kind` and `value` make.
pub(crate) fn identity_of(kind: &str, value: String) -> Result<Identity, StoreError> {
    Ok(Identity {
        kind: IdentityKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("identity kind {kind:?}")))?,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::Placeholders::{Anonymous, Numbered};
    use super::*;

    #[test]
    fn placeholders_number_rows_after_the_leading_parameters() {
        assert_eq!(value_rows(Numbered, 2, 3, 2), "($2, $3, $4), ($5, $6, $7)");
        assert_eq!(value_rows(Anonymous, 1, 2, 2), "(?, ?)");
    }
}
