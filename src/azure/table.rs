//! The result tables of a Log Analytics query: columns found by name, never by position; values
//! checked against the column type the service declares; `dynamic` cells arrive as JSON text and
//! are parsed again.

use serde::Deserialize;
use serde_json::Value;

use super::AzureError;

/// The service a decoding error names.
const SERVICE: &str = "Log Analytics";

/// One result table.
#[derive(Debug, Clone, Deserialize)]
pub struct Table {
    /// Table name (`PrimaryResult`).
    pub name: String,
    /// Columns in order.
    pub columns: Vec<Column>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Box<[Cell]>>,
}

/// One cell of a result row, as compact as the values a query answer holds: a large answer (one
/// row per open incident) is kept in memory whole while it is read, so a cell costs 24 bytes plus
/// its text rather than a general JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// null.
    Null,
    /// true or false.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string (dynamic values arrive as JSON text in a string).
    Str(Box<str>),
    /// An array or object sent as JSON rather than as text, kept as its JSON text.
    Json(Box<str>),
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Str(s) => write!(f, "{:?}", s),
            Self::Json(j) => f.write_str(j),
        }
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Cell;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }
            fn visit_none<E>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Cell, E> {
                Ok(Cell::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Cell, E> {
                Ok(Cell::Int(i))
            }
            fn visit_u64<E>(self, u: u64) -> Result<Cell, E> {
                Ok(i64::try_from(u).map_or(Cell::Float(u as f64), Cell::Int))
            }
            fn visit_f64<E>(self, x: f64) -> Result<Cell, E> {
                Ok(Cell::Float(x))
            }
            fn visit_str<E>(self, s: &str) -> Result<Cell, E> {
                Ok(Cell::Str(s.into()))
            }
            fn visit_string<E>(self, s: String) -> Result<Cell, E> {
                Ok(Cell::Str(s.into_boxed_str()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Cell, A::Error> {
                let v = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Cell::Json(v.to_string().into_boxed_str()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Cell, A::Error> {
                let v = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Cell::Json(v.to_string().into_boxed_str()))
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// A column of a result table.
#[derive(Debug, Clone, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Kusto type: bool, datetime, dynamic, int, long, real, string, guid, decimal, timespan.
    #[serde(rename = "type")]
    pub kind: String,
}

/// Reads cells of one table by column name.
#[derive(Debug)]
pub struct Reader<'a> {
    table: &'a Table,
}

/// A column found in a table: its position and type.
#[derive(Debug, Clone, Copy)]
pub struct ColumnRef<'a> {
    index: usize,
    name: &'a str,
    kind: &'a str,
}

impl<'a> Reader<'a> {
    /// Starts reading `table`.
    pub fn new(table: &'a Table) -> Self {
        Self { table }
    }

    /// Finds a column by name and checks its type is one of `kinds`.
    pub fn column(&self, name: &'a str, kinds: &[&str]) -> Result<ColumnRef<'a>, AzureError> {
        let (index, column) = self
            .table
            .columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
            .ok_or_else(|| decode(format!("the result has no column {name:?}")))?;
        if !kinds.contains(&column.kind.as_str()) {
            return Err(decode(format!(
                "column {name:?} has type {:?}, expected {}",
                column.kind,
                kinds.join(" or ")
            )));
        }
        Ok(ColumnRef {
            index,
            name,
            kind: &column.kind,
        })
    }

    /// The rows.
    pub fn rows(&self) -> &'a [Box<[Cell]>] {
        &self.table.rows
    }

    /// A string cell; null and "" both read as `None`.
    pub fn string(&self, row: &[Cell], column: ColumnRef<'_>) -> Result<Option<String>, AzureError> {
        match cell(row, column)? {
            Cell::Null => Ok(None),
            Cell::Str(s) if s.is_empty() => Ok(None),
            Cell::Str(s) => Ok(Some(s.to_string())),
            other => Err(decode(format!(
                "column {:?} holds {other}, expected a string",
                column.name
            ))),
        }
    }

    /// An int/long cell.
    pub fn integer(&self, row: &[Cell], column: ColumnRef<'_>) -> Result<Option<i64>, AzureError> {
        match cell(row, column)? {
            Cell::Null => Ok(None),
            Cell::Int(i) => Ok(Some(*i)),
            Cell::Float(n) => Err(decode(format!(
                "column {:?} holds {n}, expected a whole number",
                column.name
            ))),
            other => Err(decode(format!(
                "column {:?} holds {other}, expected a number",
                column.name
            ))),
        }
    }

    /// A bool cell (the query API sends `true`/`false`; null reads as `None`).
    pub fn boolean(&self, row: &[Cell], column: ColumnRef<'_>) -> Result<Option<bool>, AzureError> {
        match cell(row, column)? {
            Cell::Null => Ok(None),
            Cell::Bool(b) => Ok(Some(*b)),
            other => Err(decode(format!(
                "column {:?} holds {other}, expected true or false",
                column.name
            ))),
        }
    }

    /// A datetime cell.
    pub fn datetime(
        &self,
        row: &[Cell],
        column: ColumnRef<'_>,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, AzureError> {
        match cell(row, column)? {
            Cell::Null => Ok(None),
            Cell::Str(s) if s.is_empty() => Ok(None),
            Cell::Str(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|d| Some(d.with_timezone(&chrono::Utc)))
                .map_err(|e| decode(format!("column {:?} holds {s:?}, not a date-time ({e})", column.name))),
            other => Err(decode(format!(
                "column {:?} holds {other}, expected a date-time string",
                column.name
            ))),
        }
    }

    /// A dynamic cell: the service sends JSON text, which is parsed again. A dynamic cell that
    /// holds a plain string comes back as that string, so text that is not JSON is kept as a
    /// string value.
    pub fn dynamic(&self, row: &[Cell], column: ColumnRef<'_>) -> Result<Value, AzureError> {
        Ok(match cell(row, column)? {
            Cell::Str(s) if column.kind == "dynamic" => {
                serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
            }
            Cell::Str(s) => Value::String(s.to_string()),
            Cell::Json(j) => serde_json::from_str(j).unwrap_or(Value::Null),
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::Bool(*b),
            Cell::Int(i) => Value::from(*i),
            Cell::Float(x) => Value::from(*x),
        })
    }
}

fn cell<'v>(row: &'v [Cell], column: ColumnRef<'_>) -> Result<&'v Cell, AzureError> {
    row.get(column.index)
        .ok_or_else(|| decode(format!("a row is too short to have column {:?}", column.name)))
}

fn decode(message: String) -> AzureError {
    AzureError::Decode {
        service: SERVICE,
        message,
    }
}
