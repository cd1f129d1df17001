//! Walking a rows event's images: [`event_rows`] gives an [`EventRows`] iterator that reads each
//! row's before and after image straight from the event's bytes with the table's
//! [`TableSchema`] (every image must have all the columns: `binlog_row_image=FULL`), decoding
//! each value with [`decode_value`]. The image layout is described at [`EventRows`].

use mysql_common::binlog::events::RowsEventData;
use mysql_common::binlog::row::BinlogRowValueOptions;
use mysql_common::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;
use mysql_common::misc::raw::int::{LenEnc, RawInt};

use super::value::decode_value;
use super::{DecodeError, RowError, RowImages};
use crate::model::{SqlValue, TableSchema};

/// The rows of one rows event, decoded straight from the event's bytes with the table's schema.
///
/// Why not mysql_common's `RowsEventData::rows`: for every row it parses the table's optional
/// metadata again, looks up each column's metadata by walking all the columns before it, builds
/// a `Column` with owned database, table and column names per value, and copies every value.
/// The schema has all of that already, resolved once per TABLE_MAP event; here each value is
/// parsed in place with mysql_common's own value parser (`BinlogValue`, borrowed) and turned
/// into a [`SqlValue`] at once. The value bytes are read exactly as mysql_common reads them:
/// the same parser, given the same (real type, metadata, signedness, partial) of the column.
///
/// The image layout (all row events, MySQL and MariaDB): per row, the before image then the
/// after image, as the event type has them. An image is a null bitmap with one bit per column
/// present in the image (least significant bit first), then the non-null values in column
/// order. A MySQL `PARTIAL_UPDATE_ROWS_EVENT` starts its after image with a shared image: the
/// value options, and when they include partial JSON a bitmap of the JSON columns that carry a
/// diff instead of a document (refused in [`decode_value`]).
pub struct EventRows<'a> {
    schema: &'a TableSchema,
    /// Whether the event type has a before image (update, delete) and an after image.
    before: bool,
    after: bool,
    partial_update: bool,
    buf: ParseBuf<'a>,
    /// The images do not have every column: reported once, then nothing is read.
    layout_error: Option<DecodeError>,
}

/// The rows of `rows`, an event of the table `schema` was built from (its TABLE_MAP event).
/// Every image must have all the columns (`binlog_row_image=FULL`); otherwise the only item is
/// an [`RowError::Unreadable`] naming the column count.
pub fn event_rows<'a>(schema: &'a TableSchema, rows: &'a RowsEventData<'a>) -> EventRows<'a> {
    let n = schema.columns.len();
    // The bitmaps have a bit per column of the event, padded to whole bytes.
    let before: Option<Vec<bool>> = rows
        .columns_before_image()
        .map(|b| b.iter().by_vals().take(n).collect());
    let after: Option<Vec<bool>> = rows
        .columns_after_image()
        .map(|b| b.iter().by_vals().take(n).collect());
    let layout_error = layout_error(schema, rows.num_columns(), &before, &after);
    EventRows {
        schema,
        before: before.is_some(),
        after: after.is_some(),
        partial_update: matches!(rows, RowsEventData::PartialUpdateRowsEvent(_)),
        buf: ParseBuf(rows.rows_data()),
        layout_error,
    }
}

/// Why images with these column bitmaps cannot be read with `schema`, if they cannot.
fn layout_error(
    schema: &TableSchema,
    event_columns: u64,
    before: &Option<Vec<bool>>,
    after: &Option<Vec<bool>>,
) -> Option<DecodeError> {
    let n = schema.columns.len();
    [before, after]
        .into_iter()
        .flatten()
        .map(|present| present.iter().filter(|p| **p).count())
        .find(|&count| count != n || event_columns != n as u64)
        .map(|actual| DecodeError::ColumnCount {
            database: schema.database.clone(),
            table: schema.table.clone(),
            expected: n,
            actual: actual.min(event_columns as usize),
        })
}

impl EventRows<'_> {
    /// Reads one image, with the first value that was read but does not decode (that value
    /// and any other such are NULL in the image).
    fn image(
        &mut self,
        shared_image: bool,
    ) -> std::io::Result<(Vec<SqlValue>, Option<DecodeError>)> {
        let columns = &self.schema.columns;
        let mut partial_json: Option<(Vec<u8>, usize)> = None;
        if shared_image {
            let options = *self.buf.parse::<RawInt<LenEnc>>(())?;
            if options & BinlogRowValueOptions::PARTIAL_JSON_UPDATES as u64 != 0 {
                let json_columns = columns
                    .iter()
                    .filter(|c| c.column_type == ColumnType::MYSQL_TYPE_JSON)
                    .count();
                let bits: &[u8] = self.buf.parse(json_columns.div_ceil(8))?;
                partial_json = Some((bits.to_vec(), 0));
            }
        }
        // One bit per column present; FULL images have them all (checked in `event_rows`).
        let nulls: &[u8] = self.buf.parse(columns.len().div_ceil(8))?;
        let mut values = Vec::with_capacity(columns.len());
        let mut first_error = None;
        for (i, col) in columns.iter().enumerate() {
            let is_partial = match &mut partial_json {
                Some((bits, next)) if col.column_type == ColumnType::MYSQL_TYPE_JSON => {
                    let bit = bits[*next / 8] >> (*next % 8) & 1 == 1;
                    *next += 1;
                    bit
                }
                _ => false,
            };
            let value = if nulls[i / 8] >> (i % 8) & 1 == 1 {
                Ok(SqlValue::Null)
            } else {
                let ctx = (
                    col.column_type,
                    col.meta.as_slice(),
                    col.unsigned,
                    is_partial,
                );
                let raw: BinlogValue<'_> = self.buf.parse(ctx)?;
                decode_value(col, Some(&raw))
            };
            match value {
                Ok(v) => values.push(v),
                Err(e) => {
                    values.push(SqlValue::Null);
                    first_error.get_or_insert(e);
                }
            }
        }
        Ok((values, first_error))
    }
}

impl Iterator for EventRows<'_> {
    type Item = Result<RowImages, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.layout_error.take() {
            self.buf = ParseBuf(&[]);
            return Some(Err(RowError::Unreadable(e.to_string())));
        }
        if self.buf.is_empty() {
            return None;
        }
        let mut read = || -> std::io::Result<(RowImages, Option<DecodeError>)> {
            let (b, b_error) = if self.before {
                let (values, error) = self.image(false)?;
                (Some(values), error)
            } else {
                (None, None)
            };
            let (a, a_error) = if self.after {
                let (values, error) = self.image(self.partial_update)?;
                (Some(values), error)
            } else {
                (None, None)
            };
            Ok(((b, a), b_error.or(a_error)))
        };
        Some(match read() {
            Ok((images, None)) => Ok(images),
            Ok((partial, Some(error))) => Err(RowError::Undecodable { error, partial }),
            Err(e) => {
                // Nothing after a misread can be trusted.
                self.buf = ParseBuf(&[]);
                Err(RowError::Unreadable(e.to_string()))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::col;
    use super::*;
    use ColumnType::*;

    /// Rows of an INT, VARCHAR(10) utf8mb4 table read from image bytes as a rows event has them.
    fn read_rows(
        collation: u16,
        before: bool,
        partial_update: bool,
        data: &[u8],
        layout_error: Option<DecodeError>,
    ) -> Vec<Result<RowImages, RowError>> {
        let schema = TableSchema {
            database: "d".into(),
            table: "t".into(),
            columns: vec![
                col(MYSQL_TYPE_LONG, &[], false, None),
                col(MYSQL_TYPE_VARCHAR, &[10, 0], false, Some(collation)),
            ],
            primary_key: vec![0],
        };
        let rows = EventRows {
            schema: &schema,
            before,
            after: true,
            partial_update,
            buf: ParseBuf(data),
            layout_error,
        };
        rows.collect()
    }

    fn images(r: &Result<RowImages, RowError>) -> (Option<Vec<SqlValue>>, Option<Vec<SqlValue>>) {
        r.as_ref().expect("a decoded row").clone()
    }

    #[test]
    fn rows_are_read_from_the_event_bytes() {
        let s = |x: &str| SqlValue::Text(x.into());
        // Null bitmap, then the non-null values: LONG little-endian, VARCHAR length-prefixed.
        let inserts = [
            &[0b10][..],
            &7i32.to_le_bytes(),
            &[0b00],
            &(-1i32).to_le_bytes(),
            &[2],
            b"ab",
        ]
        .concat();
        let rows = read_rows(45, false, false, &inserts, None);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            images(&rows[0]),
            (None, Some(vec![SqlValue::Int(7), SqlValue::Null]))
        );
        assert_eq!(
            images(&rows[1]),
            (None, Some(vec![SqlValue::Int(-1), s("ab")]))
        );

        // An update: before image, then after image.
        let update = [
            &[0b00][..],
            &1i32.to_le_bytes(),
            &[1],
            b"x",
            &[0b00],
            &2i32.to_le_bytes(),
            &[1],
            b"y",
        ]
        .concat();
        let rows = read_rows(45, true, false, &update, None);
        assert_eq!(
            images(&rows[0]),
            (
                Some(vec![SqlValue::Int(1), s("x")]),
                Some(vec![SqlValue::Int(2), s("y")])
            )
        );

        // A MySQL partial update's after image starts with its value options (0: no JSON diffs).
        let before_image = 1 + 4 + 1 + 1;
        let partial = [&update[..before_image], &[0], &update[before_image..]].concat();
        assert_eq!(
            images(&read_rows(45, true, true, &partial, None)[0]),
            images(&rows[0])
        );
    }

    #[test]
    fn a_bad_value_skips_its_row_and_bad_bytes_end_the_event() {
        // Row 1 has a VARCHAR in a character set (dec8) that is not supported: that row fails
        // (its value bytes are still consumed), row 2 (a NULL there) is read.
        let data = [
            &[0b00][..],
            &1i32.to_le_bytes(),
            &[1],
            b"a",
            &[0b10],
            &2i32.to_le_bytes(),
        ]
        .concat();
        let rows = read_rows(3, false, false, &data, None);
        assert!(
            matches!(
                &rows[0],
                Err(RowError::Undecodable {
                    error: DecodeError::UnsupportedCharset { collation: 3, .. },
                    partial: (None, Some(partial)),
                }) if partial[0] == SqlValue::Int(1) && partial[1] == SqlValue::Null
            ),
            "{:?}",
            rows[0]
        );
        assert_eq!(
            images(&rows[1]).1.unwrap(),
            [SqlValue::Int(2), SqlValue::Null]
        );
        assert_eq!(rows.len(), 2);

        // A length running past the event's end: one error, nothing after it.
        let truncated = [&[0b00][..], &1i32.to_le_bytes(), &[9], b"ab"].concat();
        let rows = read_rows(45, false, false, &truncated, None);
        assert_eq!(rows.len(), 1);
        assert!(matches!(rows[0], Err(RowError::Unreadable(_))));

        // Images without every column (binlog_row_image not FULL): one error naming the count.
        let count = DecodeError::ColumnCount {
            database: "d".into(),
            table: "t".into(),
            expected: 2,
            actual: 1,
        };
        let rows = read_rows(45, false, false, &inserts_of_one(), Some(count));
        assert_eq!(rows.len(), 1);
        let Err(RowError::Unreadable(message)) = &rows[0] else {
            panic!("{:?}", rows[0])
        };
        assert!(
            message.contains("binlog_row_image must be FULL"),
            "{message}"
        );
    }

    fn inserts_of_one() -> Vec<u8> {
        [&[0b0][..], &7i32.to_le_bytes()].concat()
    }

    #[test]
    fn images_must_have_every_column() {
        let schema = TableSchema {
            database: "d".into(),
            table: "t".into(),
            columns: vec![
                col(MYSQL_TYPE_LONG, &[], false, None),
                col(MYSQL_TYPE_LONG, &[], false, None),
            ],
            primary_key: vec![0],
        };
        let all = Some(vec![true, true]);
        let one = Some(vec![true, false]);
        assert!(layout_error(&schema, 2, &None, &all).is_none());
        assert!(layout_error(&schema, 2, &all, &all).is_none());
        for (columns, before, after, actual) in [
            (2, &one, &all, 1),               // MINIMAL before image
            (2, &all, &one, 1),               // MINIMAL after image
            (1, &None, &Some(vec![true]), 1), // the event has fewer columns than the schema
        ] {
            let e = layout_error(&schema, columns, before, after).expect("refused");
            assert!(
                matches!(e, DecodeError::ColumnCount { expected: 2, actual: a, .. } if a == actual),
                "{e:?}"
            );
        }
    }
}
