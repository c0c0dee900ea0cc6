//! Reads of many rows as one text value. sqlx hands rows over one at a time (every value copied, a
//! channel hop from SQLite's worker thread, a conversion to `Any`): about 2 µs a row, which made
//! reading every sale of a large shop most of an answer's time, and the people and payloads of
//! every delivery batch most of the delivery's. Here the database packs the rows and the store
//! unpacks them: narrow rows of integers and codes as text, each row's fields joined with commas
//! and the rows with new lines (`string_agg`, which PostgreSQL and SQLite 3.44+ both have; a row
//! with another count of fields is reported as corrupt), and rows holding free text (names,
//! identities, payloads) as JSON, an array per row, decoded straight into a tuple of the columns'
//! types.

use super::dialect::Backend;
use super::rows::{self, Value};
use super::StoreError;
use serde::de::DeserializeOwned;
use sqlx::{AnyConnection, AnyPool, Row};

/// One SQL expression joining `columns` into a row's text; a NULL is an empty field. `format`
/// (PostgreSQL, and SQLite 3.38+) writes a row in one call, where `||` and casts built a string
/// per field (0.52 s to 0.42 s for a million sales in the `sqlite3` shell).
fn joined(columns: &[&str]) -> String {
    format!(
        "format('{}', {})",
        vec!["%s"; columns.len()].join(","),
        columns.join(", ")
    )
}

/// Reads `columns` of the rows of `from_where` (a `FROM … WHERE …` clause whose parameters are
/// `binds`), in no particular order (an ordered aggregate sorts every row first).
pub(crate) async fn read(
    pool: &AnyPool,
    columns: &'static [&'static str],
    from_where: &str,
    binds: &[Value<'_>],
) -> Result<Packed, StoreError> {
    assert!(
        columns.len() <= MAX_COLUMNS,
        "at most {MAX_COLUMNS} columns"
    );
    let sql = format!(
        "SELECT string_agg({}, '\n') AS packed {from_where}",
        joined(columns)
    );
    let mut query = sqlx::query(&sql);
    for value in binds {
        query = rows::bind(query, *value);
    }
    let text: Option<String> = query.fetch_one(pool).await?.try_get("packed")?;
    Ok(Packed {
        columns,
        text: text.unwrap_or_default(),
    })
}

/// The rows `from_where` (a `FROM … WHERE …` clause whose `{list}` stands for `ids`, as in
/// [`rows::query_ids`], and whose parameters are `params`) gives, each row's `columns` (SQL
/// expressions) decoded as a `T`, a tuple of their types (NULL as `None`), in `order` (an
/// `ORDER BY` list, or empty for any).
pub(crate) async fn json_rows<T: DeserializeOwned>(
    conn: &mut AnyConnection,
    columns: &str,
    from_where: &str,
    order: &str,
    params: &[Value<'_>],
    ids: &[i64],
) -> Result<Vec<T>, StoreError> {
    let packed = Backend::of(conn).json_rows(columns, order);
    let sql = format!("SELECT {packed} AS packed {from_where}");
    let mut decoded = Vec::new();
    for row in rows::query_ids(conn, &sql, params, ids).await? {
        let text: String = row.try_get("packed")?;
        let rows: Vec<T> = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("rows of ({columns}) read as JSON: {e}")))?;
        decoded.extend(rows);
    }
    Ok(decoded)
}

/// The rows read, as text.
pub(crate) struct Packed {
    columns: &'static [&'static str],
    text: String,
}

impl Packed {
    /// Every row, each turned into a `T` by `decode`; the first error ends the read.
    pub(crate) fn decode<T>(
        &self,
        mut decode: impl FnMut(Fields<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.rows().map(|row| decode(row?)).collect()
    }

    /// Each row's fields.
    fn rows(&self) -> impl Iterator<Item = Result<Fields<'_>, StoreError>> {
        (self.text.lines()).map(|line| {
            let mut fields = Fields {
                columns: self.columns,
                values: [""; MAX_COLUMNS],
            };
            let mut count = 0;
            for value in line.split(',') {
                if count == self.columns.len() {
                    return Err(wrong_count(self.columns, line));
                }
                fields.values[count] = value;
                count += 1;
            }
            match count == self.columns.len() {
                true => Ok(fields),
                false => Err(wrong_count(self.columns, line)),
            }
        })
    }
}

/// The most columns a packed read takes.
const MAX_COLUMNS: usize = 8;

fn wrong_count(columns: &[&str], line: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "a row of ({}) read as {line:?}",
        columns.join(", ")
    ))
}

/// One row's fields, by column.
pub(crate) struct Fields<'t> {
    columns: &'static [&'static str],
    values: [&'t str; MAX_COLUMNS],
}

impl<'t> Fields<'t> {
    fn value(&self, column: &str) -> &'t str {
        let at = (self.columns.iter())
            .position(|c| *c == column)
            .unwrap_or_else(|| panic!("column {column} is not among those read"));
        self.values[at]
    }

    /// An integer column that may be NULL.
    pub(crate) fn maybe_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        match self.value(column) {
            "" => Ok(None),
            text => (text.parse().map(Some))
                .map_err(|_| StoreError::Corrupt(format!("{column} {text:?} is not an integer"))),
        }
    }

    /// An integer column.
    pub(crate) fn int(&self, column: &str) -> Result<i64, StoreError> {
        self.maybe_int(column)?
            .ok_or_else(|| StoreError::Corrupt(format!("{column} is NULL")))
    }

    /// A text column.
    pub(crate) fn text(&self, column: &str) -> Result<&'t str, StoreError> {
        self.maybe_text(column)
            .ok_or_else(|| StoreError::Corrupt(format!("{column} is NULL")))
    }

    /// A text column that may be NULL (an empty text reads as NULL).
    pub(crate) fn maybe_text(&self, column: &str) -> Option<&'t str> {
        Some(self.value(column)).filter(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(text: &str) -> Packed {
        Packed {
            columns: &["id", "at", "code"],
            text: text.to_owned(),
        }
    }

    #[test]
    fn rows_split_into_fields_and_an_empty_field_is_null() {
        let read = packed("1,1000,EUR\n2,,\n-3,7,GBP");
        let rows: Vec<(i64, Option<i64>, Option<&str>)> = (read.rows())
            .map(|row| {
                let row = row.unwrap();
                (
                    row.int("id").unwrap(),
                    row.maybe_int("at").unwrap(),
                    row.maybe_text("code"),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (1, Some(1000), Some("EUR")),
                (2, None, None),
                (-3, Some(7), Some("GBP"))
            ]
        );
        assert_eq!(packed("").rows().count(), 0);
    }

    #[test]
    fn a_row_with_another_count_of_fields_or_a_bad_integer_is_corrupt() {
        for text in ["1,2", "1,2,EUR,4", "1,2,E,U"] {
            let error = packed(text).rows().next().unwrap().err().unwrap();
            assert!(
                error
                    .to_string()
                    .contains("a row of (id, at, code) read as"),
                "{text}: {error}"
            );
        }
        let (bad, null) = (packed("x,2,EUR"), packed(",2,EUR"));
        let error = bad.rows().next().unwrap().unwrap().int("id").unwrap_err();
        assert!(
            error.to_string().contains("id \"x\" is not an integer"),
            "{error}"
        );
        let error = null.rows().next().unwrap().unwrap().int("id").unwrap_err();
        assert!(error.to_string().contains("id is NULL"), "{error}");
        let error = null.rows().next().unwrap().unwrap().text("id").unwrap_err();
        assert!(error.to_string().contains("id is NULL"), "{error}");
    }
}
