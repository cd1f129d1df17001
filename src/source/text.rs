//! Values read over MySQL's text protocol (snapshots) turned into the same [`SqlValue`]s the
//! binlog decoder produces, so both paths give identical row keys and cells. The session runs
//! with `time_zone = '+00:00'` and `NAMES utf8mb4`, so TIMESTAMP text is UTC and character data
//! arrives as UTF-8.
//!
//! FLOAT and DOUBLE columns are selected as `col * 1e0` ([`select_column`]), not as `col`: the
//! text protocol prints a FLOAT column with 6 significant digits (`123457` for the stored
//! 123456.79) and a `DOUBLE(M,D)` with its fixed decimals (`0.00`), neither of which reads back
//! as the stored number, while the product (exact: x * 1 = x) is a DOUBLE expression without
//! fixed decimals, which the server prints as the shortest text that reads back as the same
//! f64 (`123456.7890625`). That text parses to the stored number bit for bit (a FLOAT narrowed
//! back from the f64 it widened to), the number the binlog carries, so bootstraps, resyncs,
//! repairs and `verify` render it exactly as the stream does (`SqlValue::to_text`:
//! `123456.79`). A portable expression on purpose: `CAST(col AS DOUBLE)` needs MySQL 8.0.17.

use mysql_common::constants::ColumnType;

use crate::model::{ColumnSchema, SqlValue};
use crate::source::mysql::quote_identifier;

/// How a column is named in the select list of a query whose rows [`parse_text`] reads (see
/// the module doc for FLOAT and DOUBLE).
pub fn select_column(col: &ColumnSchema) -> String {
    let name = quote_identifier(&col.name);
    match col.column_type {
        ColumnType::MYSQL_TYPE_FLOAT | ColumnType::MYSQL_TYPE_DOUBLE => format!("{name} * 1e0"),
        _ => name,
    }
}

/// Why a text value does not parse as its column's type.
#[derive(Debug, thiserror::Error)]
#[error("column `{column}`: cannot read {value:?} as {kind}")]
pub struct TextValueError {
    column: String,
    value: String,
    kind: &'static str,
}

/// Parses the text-protocol bytes of one column (`None` = NULL).
pub fn parse_text(col: &ColumnSchema, bytes: Option<&[u8]>) -> Result<SqlValue, TextValueError> {
    use ColumnType::*;
    let Some(bytes) = bytes else {
        return Ok(SqlValue::Null);
    };
    let err = |kind: &'static str| TextValueError {
        column: col.name.clone(),
        value: String::from_utf8_lossy(bytes).into_owned(),
        kind,
    };
    let text = || std::str::from_utf8(bytes).map_err(|_| err("UTF-8 text"));
    let fsp = col.meta.first().copied().unwrap_or(0);
    Ok(match col.column_type {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG
        | MYSQL_TYPE_LONGLONG => {
            if col.unsigned {
                SqlValue::UInt(text()?.parse().map_err(|_| err("an unsigned integer"))?)
            } else {
                SqlValue::Int(text()?.parse().map_err(|_| err("an integer"))?)
            }
        }
        // Selected as DOUBLE text (see the module doc): the f64 is the FLOAT widened, so
        // narrowing it back is exact.
        MYSQL_TYPE_FLOAT => {
            SqlValue::float(text()?.parse::<f64>().map_err(|_| err("a FLOAT"))? as f32)
        }
        MYSQL_TYPE_DOUBLE => SqlValue::double(text()?.parse().map_err(|_| err("a DOUBLE"))?),
        MYSQL_TYPE_NEWDECIMAL | MYSQL_TYPE_DECIMAL => SqlValue::Decimal(text()?.to_string()),
        MYSQL_TYPE_YEAR => SqlValue::Year(text()?.parse().map_err(|_| err("a YEAR"))?),
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => {
            let (y, m, d) = parse_date(text()?).ok_or_else(|| err("a DATE"))?;
            SqlValue::Date {
                year: y,
                month: m,
                day: d,
            }
        }
        MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => {
            let (date, time) = text()?.split_once(' ').ok_or_else(|| err("a DATETIME"))?;
            let (year, month, day) = parse_date(date).ok_or_else(|| err("a DATETIME"))?;
            let (_, hours, minutes, seconds, micros) =
                parse_time(time).ok_or_else(|| err("a DATETIME"))?;
            SqlValue::DateTime {
                year,
                month,
                day,
                hour: hours as u8,
                minute: minutes,
                second: seconds,
                micros,
                fsp,
            }
        }
        MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => {
            let t = text()?;
            let (date, time) = t.split_once(' ').ok_or_else(|| err("a TIMESTAMP"))?;
            let (y, m, d) = parse_date(date).ok_or_else(|| err("a TIMESTAMP"))?;
            let (_, h, mi, s, micros) = parse_time(time).ok_or_else(|| err("a TIMESTAMP"))?;
            let secs = if (y, m, d) == (0, 0, 0) {
                0
            } else {
                days_from_civil(y as i64, m as i64, d as i64) * 86_400
                    + h as i64 * 3600
                    + mi as i64 * 60
                    + s as i64
            };
            SqlValue::Timestamp { secs, micros, fsp }
        }
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => {
            let (negative, hours, minutes, seconds, micros) =
                parse_time(text()?).ok_or_else(|| err("a TIME"))?;
            SqlValue::Time {
                negative,
                hours,
                minutes,
                seconds,
                micros,
                fsp,
            }
        }
        MYSQL_TYPE_BIT => SqlValue::Bit(bytes.to_vec()),
        MYSQL_TYPE_ENUM => {
            let label = text()?.to_string();
            let index = col
                .enum_values
                .iter()
                .position(|l| *l == label)
                .map_or(0, |i| i as u16 + 1);
            SqlValue::Enum { index, label }
        }
        MYSQL_TYPE_SET => {
            let t = text()?;
            SqlValue::Set(if t.is_empty() {
                vec![]
            } else {
                t.split(',').map(str::to_string).collect()
            })
        }
        MYSQL_TYPE_JSON => SqlValue::Json(text()?.to_string()),
        MYSQL_TYPE_GEOMETRY => SqlValue::Bytes(bytes.to_vec()),
        _ => {
            if col.collation == Some(63) {
                SqlValue::Bytes(bytes.to_vec())
            } else {
                SqlValue::Text(text()?.to_string())
            }
        }
    })
}

fn parse_date(s: &str) -> Option<(u16, u8, u8)> {
    let mut it = s.splitn(3, '-');
    Some((
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    ))
}

/// `[-]H+:MM:SS[.f]` -> (negative, hours, minutes, seconds, micros).
fn parse_time(s: &str) -> Option<(bool, u32, u8, u8, u32)> {
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut it = hms.splitn(3, ':');
    let h = it.next()?.parse().ok()?;
    let m = it.next()?.parse().ok()?;
    let sec = it.next()?.parse().ok()?;
    let micros = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
        digits.parse().ok()?
    };
    Some((negative, h, m, sec, micros))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(ty: ColumnType, meta: Vec<u8>, unsigned: bool) -> ColumnSchema {
        ColumnSchema {
            name: "c".into(),
            column_type: ty,
            meta,
            unsigned,
            collation: Some(45),
            enum_values: vec!["a".into(), "b".into()],
            set_values: vec!["x".into(), "y".into()],
        }
    }

    #[test]
    fn text_values_parse_into_typed_values() {
        use ColumnType::*;
        assert_eq!(
            parse_text(
                &col(MYSQL_TYPE_LONGLONG, vec![], true),
                Some(b"18446744073709551615")
            )
            .unwrap(),
            SqlValue::UInt(u64::MAX)
        );
        assert_eq!(
            parse_text(
                &col(MYSQL_TYPE_TIME2, vec![2], false),
                Some(b"-838:59:59.50")
            )
            .unwrap(),
            SqlValue::Time {
                negative: true,
                hours: 838,
                minutes: 59,
                seconds: 59,
                micros: 500_000,
                fsp: 2
            }
        );
        assert_eq!(
            parse_text(
                &col(MYSQL_TYPE_TIMESTAMP2, vec![0], false),
                Some(b"1970-01-02 00:00:01")
            )
            .unwrap(),
            SqlValue::Timestamp {
                secs: 86_401,
                micros: 0,
                fsp: 0
            }
        );
        assert_eq!(
            parse_text(
                &col(MYSQL_TYPE_TIMESTAMP2, vec![0], false),
                Some(b"0000-00-00 00:00:00")
            )
            .unwrap(),
            SqlValue::Timestamp {
                secs: 0,
                micros: 0,
                fsp: 0
            }
        );
        assert_eq!(
            parse_text(&col(MYSQL_TYPE_ENUM, vec![], false), Some(b"b")).unwrap(),
            SqlValue::Enum {
                index: 2,
                label: "b".into()
            }
        );
        assert_eq!(
            parse_text(&col(MYSQL_TYPE_SET, vec![], false), Some(b"")).unwrap(),
            SqlValue::Set(vec![])
        );
        assert_eq!(
            parse_text(&col(MYSQL_TYPE_VARCHAR, vec![], false), None).unwrap(),
            SqlValue::Null
        );
        assert!(parse_text(&col(MYSQL_TYPE_LONG, vec![], false), Some(b"x")).is_err());
    }

    /// What the server prints for `col * 1e0`: the f64's shortest round-trip text.
    fn server_text(x: f64) -> String {
        String::from_utf8(SqlValue::Double(x).to_text().unwrap()).unwrap()
    }

    #[test]
    fn floats_read_as_double_text_render_like_the_binlog() {
        use mysql_common::binlog::value::BinlogValue;
        use mysql_common::Value;
        use ColumnType::*;
        let f = col(MYSQL_TYPE_FLOAT, vec![4], false);
        let d = col(MYSQL_TYPE_DOUBLE, vec![8], false);
        let read = |c: &ColumnSchema, text: &str| {
            String::from_utf8(
                parse_text(c, Some(text.as_bytes()))
                    .unwrap()
                    .to_text()
                    .unwrap(),
            )
            .unwrap()
        };
        // `col * 1e0` as MariaDB 10.11 prints it, and the cell the stream writes for the same
        // FLOAT: the f32's shortest text, not the f64's, not SELECT col's 6 digits (`123457`).
        for (server, cell) in [
            ("123456.7890625", "123456.79"),
            ("0.10000000149011612", "0.1"),
            ("-1.2345000505447388", "-1.2345"),
            ("999.9998779296875", "999.9999"),
            // The f32 nearest 0.0001 is just below it: exponent style (`model::value`).
            ("0.00009999999747378752", "1e-4"),
            ("16777216", "16777216"),
            ("100000000376832", "100000000000000"),
            ("3.4028234663852886e38", "3.4028235e38"),
            ("-3.4028234663852886e38", "-3.4028235e38"),
            ("1.1754943508222875e-38", "1.1754944e-38"),
            ("9.99994610111476e-41", "1e-40"),
            ("1.401298464324817e-45", "1e-45"),
            ("-1.401298464324817e-45", "-1e-45"),
            ("0", "0"),
            ("-0", "0"),
        ] {
            assert_eq!(read(&f, server), cell, "FLOAT read as {server}");
        }
        for (server, cell) in [
            ("0.1", "0.1"),
            ("0.30000000000000004", "0.30000000000000004"),
            ("1.7976931348623157e308", "1.7976931348623157e308"),
            ("-2.2250738585072014e-308", "-2.2250738585072014e-308"),
            ("5e-324", "5e-324"),
            ("1e15", "1e15"),
            ("999999999999999", "999999999999999"),
            ("-0", "0"),
        ] {
            assert_eq!(read(&d, server), cell, "DOUBLE read as {server}");
        }
        // Any f32 and f64 bits: the snapshot's value is the binlog's, cell for cell (string
        // and native encodings compare the values themselves).
        let binlog = |c: &ColumnSchema, v: Value| {
            crate::source::decode::decode_value(c, Some(&BinlogValue::Value(v))).unwrap()
        };
        let mut bits = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            bits ^= bits << 13;
            bits ^= bits >> 7;
            bits ^= bits << 17;
            let x = f32::from_bits(bits as u32);
            if x.is_finite() {
                let read = parse_text(&f, Some(server_text(f64::from(x)).as_bytes())).unwrap();
                assert_eq!(read, binlog(&f, Value::Float(x)), "{x:e}");
                assert_eq!(read.to_text(), binlog(&f, Value::Float(x)).to_text());
            }
            let y = f64::from_bits(bits);
            if y.is_finite() {
                let read = parse_text(&d, Some(server_text(y).as_bytes())).unwrap();
                assert_eq!(
                    read.to_text(),
                    binlog(&d, Value::Double(y)).to_text(),
                    "{y:e}"
                );
            }
        }
        // Negative zero reads and decodes as zero (MariaDB stores only zero; MySQL compares
        // the two equal), so `native` bytes agree too.
        assert_eq!(binlog(&f, Value::Float(-0.0)), SqlValue::Float(0.0));
        assert!(
            matches!(binlog(&d, Value::Double(-0.0)), SqlValue::Double(z) if z.is_sign_positive())
        );
        assert!(
            matches!(parse_text(&f, Some(b"-0")).unwrap(), SqlValue::Float(z) if z.is_sign_positive())
        );
        // Selected so: FLOAT and DOUBLE as a DOUBLE product, the rest as they are.
        assert_eq!(select_column(&f), "`c` * 1e0");
        assert_eq!(select_column(&d), "`c` * 1e0");
        assert_eq!(
            select_column(&col(MYSQL_TYPE_NEWDECIMAL, vec![], false)),
            "`c`"
        );
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }
}
