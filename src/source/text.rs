//! Values read over MySQL's text protocol (snapshots) turned into the same [`SqlValue`]s the
//! binlog decoder produces, so both paths give identical row keys and cells. The session runs
//! with `time_zone = '+00:00'` and `NAMES utf8mb4`, so TIMESTAMP text is UTC and character data
//! arrives as UTF-8.

use mysql_common::constants::ColumnType;

use crate::model::{ColumnSchema, SqlValue};

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
        MYSQL_TYPE_FLOAT => SqlValue::Float(text()?.parse().map_err(|_| err("a FLOAT"))?),
        MYSQL_TYPE_DOUBLE => SqlValue::Double(text()?.parse().map_err(|_| err("a DOUBLE"))?),
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

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }
}
