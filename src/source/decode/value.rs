//! One packed binlog value -> [`SqlValue`]: [`decode_value`] turns the loosely typed `Value`
//! of mysql_common's value parser (TIMESTAMP as "secs.usec" text, ENUM as its index, SET as a
//! bitmask, YEAR as text, ...) into a typed value, using the column's [`ColumnSchema`].
//!
//! Choices and limits:
//! - Character data goes through `charset` (to UTF-8), JSONB through `json` (to MySQL's JSON
//!   text). Collation 63 (binary) gives [`SqlValue::Bytes`]; `BINARY(n)` values are padded back
//!   to `n` bytes with `0x00` (the binlog strips the padding, `SELECT` returns it).
//! - mysql_common bugs worked around: a negative signed MEDIUMINT arrives without sign extension
//!   (-1 as 16777215); YEAR 0 arrives as "1900" (YEAR 0000 is meant; 1900 is not a valid YEAR);
//!   a negative TIME(1)/TIME(2) with a fraction is mis-decoded (an unsigned
//!   subtraction wraps: 625 hours too many, fraction >= 1 s) and repaired here — in a build with
//!   overflow checks for mysql_common (the default `dev`/`test` profile) it panics inside
//!   mysql_common's value parser before this module sees it, so set
//!   `[profile.dev.package.mysql_common] overflow-checks = false` where that matters.
//!   The pre-5.6 TIME type (MYSQL_TYPE_TIME, not TIME2) is only right for non-negative values
//!   below 256 hours (mysql_common truncates the hours to a byte and drops the sign).
//! - Partial JSON updates (MySQL `binlog_row_value_options=PARTIAL_JSON`) cannot be decoded into
//!   a full value ([`DecodeError::PartialJson`]).

use mysql_common::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::Value;

use super::charset::decode_chars;
use super::json::json_text;
use super::DecodeError;
use crate::model::{ColumnSchema, SqlValue};

fn bad_value(col: &ColumnSchema, reason: impl Into<String>) -> DecodeError {
    DecodeError::BadValue {
        column: col.name.clone(),
        column_type: col.column_type,
        reason: reason.into(),
    }
}

fn unexpected(col: &ColumnSchema, v: &Value) -> DecodeError {
    bad_value(col, format!("unexpected value {v:?}"))
}

/// Fraction digits from metadata byte 0 (TIME2/DATETIME2/TIMESTAMP2), at most 6.
fn fsp_of(col: &ColumnSchema) -> u8 {
    col.meta.first().copied().unwrap_or(0).min(6)
}

/// Decodes one column value (`None` = SQL NULL) using the column's schema.
pub fn decode_value(
    col: &ColumnSchema,
    v: Option<&BinlogValue<'_>>,
) -> Result<SqlValue, DecodeError> {
    use ColumnType::*;
    let v = match v {
        None | Some(BinlogValue::Value(Value::NULL)) => return Ok(SqlValue::Null),
        Some(BinlogValue::Jsonb(j)) => {
            return json_text(j)
                .map(SqlValue::Json)
                .map_err(|e| bad_value(col, format!("bad JSONB: {e}")))
        }
        Some(BinlogValue::JsonDiff(_)) => {
            return Err(DecodeError::PartialJson {
                column: col.name.clone(),
            })
        }
        Some(BinlogValue::Value(v)) => v,
    };
    let t = col.column_type;
    match t {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG
        | MYSQL_TYPE_LONGLONG => match (v, col.unsigned) {
            // mysql_common reads a signed MEDIUMINT without sign extension (-1 arrives as
            // 16777215); a valid signed MEDIUMINT is below 2^23, so this is unambiguous.
            (&Value::Int(i), false) if t == MYSQL_TYPE_INT24 && i >= 1 << 23 => {
                Ok(SqlValue::Int(i - (1 << 24)))
            }
            (&Value::Int(i), false) => Ok(SqlValue::Int(i)),
            (&Value::Int(i), true) if i >= 0 => Ok(SqlValue::UInt(i as u64)),
            (&Value::UInt(u), true) => Ok(SqlValue::UInt(u)),
            _ => Err(unexpected(col, v)),
        },
        MYSQL_TYPE_FLOAT => match *v {
            Value::Float(f) => Ok(SqlValue::float(f)),
            _ => Err(unexpected(col, v)),
        },
        MYSQL_TYPE_DOUBLE => match *v {
            Value::Double(f) => Ok(SqlValue::double(f)),
            _ => Err(unexpected(col, v)),
        },
        MYSQL_TYPE_NEWDECIMAL | MYSQL_TYPE_DECIMAL => match v {
            Value::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) if !s.is_empty() => Ok(SqlValue::Decimal(s.to_owned())),
                _ => Err(unexpected(col, v)),
            },
            _ => Err(unexpected(col, v)),
        },
        MYSQL_TYPE_BIT => match v {
            Value::Bytes(b) => Ok(SqlValue::Bit(b.clone())),
            _ => Err(unexpected(col, v)),
        },
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => match *v {
            Value::Date(year, month, day, ..) => Ok(SqlValue::Date { year, month, day }),
            _ => Err(unexpected(col, v)),
        },
        MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => match *v {
            Value::Date(year, month, day, hour, minute, second, micros) => Ok(SqlValue::DateTime {
                year,
                month,
                day,
                hour,
                minute,
                second,
                micros,
                fsp: if t == MYSQL_TYPE_DATETIME2 {
                    fsp_of(col)
                } else {
                    0
                },
            }),
            _ => Err(unexpected(col, v)),
        },
        MYSQL_TYPE_TIMESTAMP => match *v {
            Value::Int(secs) => Ok(SqlValue::Timestamp {
                secs,
                micros: 0,
                fsp: 0,
            }),
            _ => Err(unexpected(col, v)),
        },
        MYSQL_TYPE_TIMESTAMP2 => match v {
            // "secs" or "secs.micros"; secs was read as a u32 but handed out as an i32.
            Value::Bytes(b) => parse_timestamp(b)
                .map(|(secs, micros)| SqlValue::Timestamp {
                    secs,
                    micros,
                    fsp: fsp_of(col),
                })
                .ok_or_else(|| unexpected(col, v)),
            _ => Err(unexpected(col, v)),
        },
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => match *v {
            Value::Time(negative, days, h, minutes, seconds, micros) => {
                let fsp = if t == MYSQL_TYPE_TIME2 {
                    fsp_of(col)
                } else {
                    0
                };
                let hours = days * 24 + u32::from(h);
                let (negative, hours, minutes, seconds, micros) = if t == MYSQL_TYPE_TIME2
                    && (fsp == 1 || fsp == 2)
                    && (micros >= 1_000_000 || (negative && micros != 0))
                {
                    repair_time2(negative, hours, minutes, seconds, micros)
                } else {
                    (negative, hours, minutes, seconds, micros)
                };
                Ok(SqlValue::Time {
                    negative,
                    hours,
                    minutes,
                    seconds,
                    micros,
                    fsp,
                })
            }
            _ => Err(unexpected(col, v)),
        },
        MYSQL_TYPE_YEAR => {
            let y = match v {
                Value::Bytes(b) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| s.parse::<u16>().ok()),
                Value::Int(i) => u16::try_from(*i).ok(),
                _ => None,
            };
            match y {
                // mysql_common renders the stored byte as 1900 + byte: byte 0 is YEAR 0000.
                Some(1900) => Ok(SqlValue::Year(0)),
                Some(y) => Ok(SqlValue::Year(y)),
                None => Err(unexpected(col, v)),
            }
        }
        MYSQL_TYPE_ENUM => match *v {
            Value::Int(0) => Ok(SqlValue::Enum {
                index: 0,
                label: String::new(),
            }),
            Value::Int(i) => {
                let label = usize::try_from(i - 1)
                    .ok()
                    .and_then(|k| col.enum_values.get(k))
                    .ok_or_else(|| {
                        bad_value(
                            col,
                            format!(
                                "ENUM index {i} but the column has {} labels",
                                col.enum_values.len()
                            ),
                        )
                    })?;
                Ok(SqlValue::Enum {
                    index: i as u16,
                    label: label.clone(),
                })
            }
            _ => Err(unexpected(col, v)),
        },
        MYSQL_TYPE_SET => match v {
            Value::Bytes(b) => {
                let mut labels = Vec::new();
                for (byte_idx, byte) in b.iter().enumerate() {
                    for bit in 0..8 {
                        if byte & (1 << bit) != 0 {
                            let k = byte_idx * 8 + bit;
                            let label = col.set_values.get(k).ok_or_else(|| {
                                bad_value(
                                    col,
                                    format!(
                                        "SET bit {k} but the column has {} labels",
                                        col.set_values.len()
                                    ),
                                )
                            })?;
                            labels.push(label.clone());
                        }
                    }
                }
                Ok(SqlValue::Set(labels))
            }
            _ => Err(unexpected(col, v)),
        },
        MYSQL_TYPE_STRING
        | MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_VARCHAR
        | MYSQL_TYPE_BLOB
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB => match v {
            Value::Bytes(b) => match col.collation {
                // No charset metadata (not expected with binlog_row_metadata=FULL): raw bytes.
                None => Ok(SqlValue::Bytes(b.clone())),
                Some(63) => {
                    let mut bytes = b.clone();
                    if t == MYSQL_TYPE_STRING {
                        // BINARY(n): the binlog strips the trailing 0x00 padding, SELECT returns it.
                        let len = string_length(&col.meta);
                        if bytes.len() < len {
                            bytes.resize(len, 0);
                        }
                    }
                    Ok(SqlValue::Bytes(bytes))
                }
                Some(c) => decode_chars(b, c).map(SqlValue::Text).map_err(|_| {
                    DecodeError::UnsupportedCharset {
                        column: col.name.clone(),
                        collation: c,
                    }
                }),
            },
            _ => Err(unexpected(col, v)),
        },
        MYSQL_TYPE_JSON => match v {
            // Only reached for text (MySQL hands out JSONB, handled above).
            Value::Bytes(b) => Ok(SqlValue::Json(String::from_utf8_lossy(b).into_owned())),
            _ => Err(unexpected(col, v)),
        },
        MYSQL_TYPE_GEOMETRY | MYSQL_TYPE_VECTOR => match v {
            Value::Bytes(b) => Ok(SqlValue::Bytes(b.clone())),
            _ => Err(unexpected(col, v)),
        },
        _ => Err(bad_value(
            col,
            format!("column type not supported (value {v:?})"),
        )),
    }
}

/// Byte length of a `MYSQL_TYPE_STRING` column (CHAR/BINARY) from its metadata.
fn string_length(meta: &[u8]) -> usize {
    match meta {
        [b0, b1, ..] => {
            let (b0, b1) = (*b0 as usize, *b1 as usize);
            if b0 & 0x30 != 0x30 {
                b1 | (((b0 & 0x30) ^ 0x30) << 4)
            } else {
                b1
            }
        }
        _ => 0,
    }
}

/// Parses mysql_common's TIMESTAMP2 text `secs[.micros]`. The seconds are an unsigned 32-bit
/// number read as `i32`; negative ones (MariaDB 11.5+ goes past 2038) are shifted back.
fn parse_timestamp(b: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(b).ok()?;
    let (secs, micros) = match s.split_once('.') {
        Some((a, f)) => (a.parse::<i64>().ok()?, f.parse::<u32>().ok()?),
        None => (s.parse::<i64>().ok()?, 0),
    };
    let secs = if secs < 0 { secs + (1 << 32) } else { secs };
    Some((secs, micros))
}

/// Repairs a negative TIME(1)/TIME(2) with a fraction as mysql_common (without overflow checks)
/// hands it out: its `frac -= 0x100` on a `u32` wraps, which adds `2^32 * 10000` microseconds,
/// i.e. exactly 625 hours (`2_560_000 << 24` in packed form), to the packed value.
fn repair_time2(
    negative: bool,
    hours: u32,
    minutes: u8,
    seconds: u8,
    micros: u32,
) -> (bool, u32, u8, u8, u32) {
    let hms = (i64::from(hours) << 12) | (i64::from(minutes) << 6) | i64::from(seconds);
    let magnitude = (hms << 24) + i64::from(micros);
    let wrapped = if negative { -magnitude } else { magnitude };
    let packed = wrapped - (2_560_000_i64 << 24);
    let negative = packed < 0;
    let t = packed.abs();
    let hms = t >> 24;
    (
        negative,
        ((hms >> 12) & 0x3FF) as u32,
        ((hms >> 6) & 0x3F) as u8,
        (hms & 0x3F) as u8,
        (t & 0xFF_FFFF) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{bytes, col, dec, text};
    use super::*;
    use crate::model::value::civil_from_days;
    use mysql_common::binlog::decimal::Decimal;
    use ColumnType::*;

    #[test]
    fn integers_signed_and_unsigned() {
        let c = col(MYSQL_TYPE_LONGLONG, &[], true, None);
        // mysql_common: Int up to i64::MAX, UInt above.
        assert_eq!(dec(&c, Value::UInt(u64::MAX)), SqlValue::UInt(u64::MAX));
        assert_eq!(text(&c, Value::UInt(u64::MAX)), "18446744073709551615");
        assert_eq!(dec(&c, Value::Int(5)), SqlValue::UInt(5));
        let c = col(MYSQL_TYPE_LONGLONG, &[], false, None);
        assert_eq!(text(&c, Value::Int(i64::MIN)), "-9223372036854775808");
        assert!(decode_value(&c, Some(&BinlogValue::Value(Value::UInt(u64::MAX)))).is_err());
        let c = col(MYSQL_TYPE_INT24, &[], true, None);
        assert_eq!(text(&c, Value::Int(16_777_215)), "16777215");
        let c = col(MYSQL_TYPE_INT24, &[], false, None);
        assert_eq!(text(&c, Value::Int(-8_388_608)), "-8388608");
        // What mysql_common really hands out for a negative MEDIUMINT (no sign extension).
        assert_eq!(dec(&c, Value::Int(0x80_0000)), SqlValue::Int(-8_388_608));
        assert_eq!(dec(&c, Value::Int(0xFF_FFFF)), SqlValue::Int(-1));
        assert_eq!(dec(&c, Value::Int(0x7F_FFFF)), SqlValue::Int(8_388_607));
        let c = col(MYSQL_TYPE_TINY, &[], true, None);
        assert_eq!(dec(&c, Value::Int(255)), SqlValue::UInt(255));
        let c = col(MYSQL_TYPE_TINY, &[], false, None);
        assert_eq!(text(&c, Value::Int(-128)), "-128");
    }

    #[test]
    fn null_and_empty_string() {
        let c = col(MYSQL_TYPE_VARCHAR, &[40, 0], false, Some(45));
        assert_eq!(decode_value(&c, None).unwrap(), SqlValue::Null);
        assert_eq!(
            decode_value(&c, Some(&BinlogValue::Value(Value::NULL))).unwrap(),
            SqlValue::Null
        );
        assert_eq!(SqlValue::Null.to_text(), None);
        assert_eq!(dec(&c, bytes("")).to_text(), Some(vec![]));
    }

    #[test]
    fn binary_strings_and_blobs() {
        let varbinary = col(MYSQL_TYPE_VARCHAR, &[10, 0], false, Some(63));
        assert_eq!(
            dec(&varbinary, Value::Bytes(vec![0, 0xFF])),
            SqlValue::Bytes(vec![0, 0xFF])
        );
        // BINARY(4): the binlog strips trailing 0x00, SELECT pads them back.
        let binary4 = col(MYSQL_TYPE_STRING, &[0xFE, 4], false, Some(63));
        assert_eq!(dec(&binary4, bytes("ab")).to_text().unwrap(), b"ab\0\0");
        assert_eq!(dec(&binary4, bytes("")).to_text().unwrap(), b"\0\0\0\0");
        assert_eq!(dec(&binary4, bytes("abcd")).to_text().unwrap(), b"abcd");
        // CHAR(n) text keeps what the binlog has (trailing spaces are stripped by both).
        let char10 = col(MYSQL_TYPE_STRING, &[0xFE, 40], false, Some(45));
        assert_eq!(text(&char10, bytes("ab")), "ab");
        let blob = col(MYSQL_TYPE_BLOB, &[2], false, Some(63));
        assert_eq!(
            dec(&blob, Value::Bytes(vec![1, 2, 3])),
            SqlValue::Bytes(vec![1, 2, 3])
        );
        let text_col = col(MYSQL_TYPE_BLOB, &[2], false, Some(33));
        assert_eq!(dec(&text_col, bytes("t")), SqlValue::Text("t".into()));
        let geometry = col(MYSQL_TYPE_GEOMETRY, &[4], false, None);
        assert_eq!(
            dec(&geometry, Value::Bytes(vec![0, 0, 0, 0, 1])),
            SqlValue::Bytes(vec![0, 0, 0, 0, 1])
        );
        assert_eq!(string_length(&[0xFE, 40]), 40);
        // CHAR(255) utf8mb4 = 1020 bytes: the high length bits live in byte 0.
        assert_eq!(string_length(&[0xCE, 0xFC]), 1020);
    }

    #[test]
    fn times() {
        let time0 = col(MYSQL_TYPE_TIME2, &[0], false, None);
        assert_eq!(
            text(&time0, Value::Time(true, 34, 22, 59, 59, 0)),
            "-838:59:59"
        );
        assert_eq!(
            text(&time0, Value::Time(false, 34, 22, 59, 59, 0)),
            "838:59:59"
        );
        assert_eq!(text(&time0, Value::Time(false, 0, 1, 2, 3, 0)), "01:02:03");
        assert_eq!(text(&time0, Value::Time(true, 0, 0, 0, 1, 0)), "-00:00:01");
        let time2 = col(MYSQL_TYPE_TIME2, &[2], false, None);
        assert_eq!(
            text(&time2, Value::Time(false, 34, 22, 59, 59, 0)),
            "838:59:59.00"
        );
        assert_eq!(
            text(&time2, Value::Time(false, 1, 2, 0, 0, 450_000)),
            "26:00:00.45"
        );
        let time6 = col(MYSQL_TYPE_TIME2, &[6], false, None);
        assert_eq!(
            text(&time6, Value::Time(true, 1, 1, 0, 0, 5)),
            "-25:00:00.000005"
        );
        let t = SqlValue::Time {
            negative: true,
            hours: 1,
            minutes: 2,
            seconds: 3,
            micros: 450_000,
            fsp: 2,
        };
        assert_eq!(t.to_text().unwrap(), b"-01:02:03.45");
    }

    /// What mysql_common (without overflow checks) makes of a TIME(1|2) on disk: its `u32`
    /// subtraction wraps for negative values with a fraction.
    fn mysql_common_time2(disk: [u8; 4]) -> Value {
        let mut intpart =
            (i64::from(disk[0]) << 16 | i64::from(disk[1]) << 8 | i64::from(disk[2])) - 0x80_0000;
        let mut frac = u32::from(disk[3]);
        if intpart < 0 && frac > 0 {
            intpart += 1;
            frac = frac.wrapping_sub(0x100);
        }
        let packed = ((intpart as u64) << 24) as i64 + i64::from(frac) * 10_000;
        mysql_common::binlog::misc::time_from_packed(packed)
    }

    /// MySQL's on-disk TIME(2) for a packed time value.
    fn disk_time2(negative: bool, h: i64, m: i64, s: i64, centis: i64) -> [u8; 4] {
        let hms = (h << 12) | (m << 6) | s;
        let mut packed = (hms << 24) + centis * 10_000;
        if negative {
            packed = -packed;
        }
        let int = (packed >> 24) + 0x80_0000;
        let frac = ((packed % (1 << 24)) / 10_000) as i8 as u8;
        [(int >> 16) as u8, (int >> 8) as u8, int as u8, frac]
    }

    #[test]
    fn negative_fractional_time2_is_repaired() {
        let time2 = col(MYSQL_TYPE_TIME2, &[2], false, None);
        let time1 = col(MYSQL_TYPE_TIME2, &[1], false, None);
        for (neg, h, m, s, cs, want) in [
            (true, 1, 2, 3, 45, "-01:02:03.45"),
            (true, 0, 0, 0, 1, "-00:00:00.01"),
            (true, 0, 0, 0, 99, "-00:00:00.99"),
            (true, 838, 59, 58, 99, "-838:59:58.99"),
            (true, 700, 0, 0, 50, "-700:00:00.50"),
            (true, 624, 59, 59, 99, "-624:59:59.99"),
            (true, 625, 0, 0, 1, "-625:00:00.01"),
            (true, 838, 59, 59, 0, "-838:59:59.00"),
            (false, 838, 59, 59, 0, "838:59:59.00"),
            (false, 1, 2, 3, 45, "01:02:03.45"),
            (false, 0, 0, 0, 99, "00:00:00.99"),
        ] {
            let v = mysql_common_time2(disk_time2(neg, h, m, s, cs));
            assert_eq!(text(&time2, v.clone()), want, "{v:?}");
            let want1 = &want[..want.len() - 1];
            if cs % 10 == 0 {
                assert_eq!(text(&time1, v), want1);
            }
        }
    }

    #[test]
    fn dates_and_datetimes() {
        let date = col(MYSQL_TYPE_NEWDATE, &[], false, None);
        assert_eq!(text(&date, Value::Date(0, 0, 0, 0, 0, 0, 0)), "0000-00-00");
        assert_eq!(
            text(&date, Value::Date(2024, 2, 29, 0, 0, 0, 0)),
            "2024-02-29"
        );
        assert_eq!(text(&date, Value::Date(1, 1, 1, 0, 0, 0, 0)), "0001-01-01");
        assert_eq!(
            text(&date, Value::Date(2020, 0, 15, 0, 0, 0, 0)),
            "2020-00-15"
        );
        let dt0 = col(MYSQL_TYPE_DATETIME2, &[0], false, None);
        assert_eq!(
            text(&dt0, Value::Date(0, 0, 0, 0, 0, 0, 0)),
            "0000-00-00 00:00:00"
        );
        assert_eq!(
            text(&dt0, Value::Date(9999, 12, 31, 23, 59, 59, 0)),
            "9999-12-31 23:59:59"
        );
        let dt6 = col(MYSQL_TYPE_DATETIME2, &[6], false, None);
        assert_eq!(
            text(&dt6, Value::Date(0, 0, 0, 0, 0, 0, 0)),
            "0000-00-00 00:00:00.000000"
        );
        assert_eq!(
            text(&dt6, Value::Date(2020, 1, 2, 3, 4, 5, 6)),
            "2020-01-02 03:04:05.000006"
        );
        let dt3 = col(MYSQL_TYPE_DATETIME2, &[3], false, None);
        assert_eq!(
            text(&dt3, Value::Date(2020, 1, 2, 3, 4, 5, 123_000)),
            "2020-01-02 03:04:05.123"
        );
        let old = col(MYSQL_TYPE_DATETIME, &[], false, None);
        assert_eq!(
            text(&old, Value::Date(2020, 1, 2, 3, 4, 5, 0)),
            "2020-01-02 03:04:05"
        );
    }

    #[test]
    fn timestamps() {
        let ts0 = col(MYSQL_TYPE_TIMESTAMP2, &[0], false, None);
        assert_eq!(text(&ts0, bytes("0")), "0000-00-00 00:00:00");
        assert_eq!(text(&ts0, bytes("1")), "1970-01-01 00:00:01");
        assert_eq!(text(&ts0, bytes("1700000000")), "2023-11-14 22:13:20");
        assert_eq!(text(&ts0, bytes("2147483647")), "2038-01-19 03:14:07");
        assert_eq!(text(&ts0, bytes("951782400")), "2000-02-29 00:00:00");
        // Past 2038 (MariaDB 11.5+): mysql_common reads the u32 as an i32.
        assert_eq!(text(&ts0, bytes("-1")), "2106-02-07 06:28:15");
        let ts3 = col(MYSQL_TYPE_TIMESTAMP2, &[3], false, None);
        assert_eq!(text(&ts3, bytes("0")), "0000-00-00 00:00:00.000");
        assert_eq!(
            text(&ts3, bytes("1700000000.123000")),
            "2023-11-14 22:13:20.123"
        );
        assert_eq!(text(&ts3, bytes("1700000000")), "2023-11-14 22:13:20.000");
        let ts6 = col(MYSQL_TYPE_TIMESTAMP2, &[6], false, None);
        assert_eq!(text(&ts6, bytes("1.000001")), "1970-01-01 00:00:01.000001");
        let old = col(MYSQL_TYPE_TIMESTAMP, &[], false, None);
        assert_eq!(text(&old, Value::Int(86_400)), "1970-01-02 00:00:00");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(2_932_896), (9999, 12, 31));
    }

    #[test]
    fn years() {
        let year = col(MYSQL_TYPE_YEAR, &[], true, None);
        // mysql_common hands out 1900 + stored byte; byte 0 is YEAR 0000.
        assert_eq!(dec(&year, bytes("1900")), SqlValue::Year(0));
        assert_eq!(text(&year, bytes("1900")), "0000");
        assert_eq!(text(&year, bytes("1901")), "1901");
        assert_eq!(text(&year, bytes("2155")), "2155");
    }

    /// MySQL's binary DECIMAL for the given digits, as stored for DECIMAL(prec, scale).
    fn decimal_bin(
        int_digits: &str,
        frac_digits: &str,
        negative: bool,
        prec: usize,
        scale: usize,
    ) -> Vec<u8> {
        const BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
        let intg = prec - scale;
        let int = format!("{int_digits:0>intg$}");
        let frac = format!("{frac_digits:0<scale$}");
        let mut groups: Vec<&str> = Vec::new();
        let p = intg % 9;
        if p > 0 {
            groups.push(&int[..p]);
        }
        groups.extend((p..intg).step_by(9).map(|i| &int[i..i + 9]));
        groups.extend((0..scale / 9).map(|i| &frac[i * 9..i * 9 + 9]));
        if !scale.is_multiple_of(9) {
            groups.push(&frac[scale - scale % 9..]);
        }
        let mut out = Vec::new();
        for g in groups {
            let v: u32 = g.parse().unwrap();
            out.extend_from_slice(&v.to_be_bytes()[4 - BYTES[g.len()]..]);
        }
        if negative {
            out.iter_mut().for_each(|b| *b = !*b);
        }
        out[0] ^= 0x80;
        out
    }

    #[test]
    fn decimals_keep_scale_and_sign() {
        // What mysql_common makes of the binary, then through decode_value.
        let c = col(MYSQL_TYPE_NEWDECIMAL, &[10, 2], false, None);
        for (int, frac, neg, prec, scale, want) in [
            ("0", "00", false, 10, 2, "0.00"),
            ("0", "50", true, 10, 2, "-0.50"),
            ("12345678", "90", false, 10, 2, "12345678.90"),
            ("1", "5", true, 10, 2, "-1.50"),
            (
                "12345678901234567890",
                "1234567890",
                false,
                30,
                10,
                "12345678901234567890.1234567890",
            ),
            ("1", "", true, 30, 10, "-1.0000000000"),
            ("0", "0000000001", false, 30, 10, "0.0000000001"),
            ("1000000000", "", false, 30, 10, "1000000000.0000000000"),
            ("42", "", true, 5, 0, "-42"),
            ("0", "", false, 5, 0, "0"),
        ] {
            let bin = decimal_bin(int, frac, neg, prec, scale);
            let text_of = Decimal::read_bin(&bin[..], prec, scale, false)
                .unwrap()
                .to_string();
            assert_eq!(text_of, want);
            let v = dec(&c, Value::Bytes(text_of.into_bytes()));
            assert_eq!(v, SqlValue::Decimal(want.into()));
            assert_eq!(v.to_text().unwrap(), want.as_bytes());
        }
    }

    #[test]
    fn bits() {
        let bit1 = col(MYSQL_TYPE_BIT, &[1, 0], false, None);
        assert_eq!(
            dec(&bit1, Value::Bytes(vec![1])).to_text().unwrap(),
            vec![1]
        );
        assert_eq!(
            dec(&bit1, Value::Bytes(vec![0])).to_text().unwrap(),
            vec![0]
        );
        let bit64 = col(MYSQL_TYPE_BIT, &[0, 8], false, None);
        let v = dec(&bit64, Value::Bytes(vec![0x80, 0, 0, 0, 0, 0, 0, 1]));
        assert_eq!(v, SqlValue::Bit(vec![0x80, 0, 0, 0, 0, 0, 0, 1]));
    }

    #[test]
    fn enums_and_sets() {
        let mut e = col(MYSQL_TYPE_ENUM, &[247, 1], false, Some(45));
        e.enum_values = vec!["x".into(), "y".into(), "é".into()];
        assert_eq!(
            dec(&e, Value::Int(0)),
            SqlValue::Enum {
                index: 0,
                label: String::new()
            }
        );
        assert_eq!(dec(&e, Value::Int(0)).to_text().unwrap(), b"");
        assert_eq!(
            dec(&e, Value::Int(3)),
            SqlValue::Enum {
                index: 3,
                label: "é".into()
            }
        );
        assert_eq!(text(&e, Value::Int(2)), "y");
        assert!(decode_value(&e, Some(&BinlogValue::Value(Value::Int(4)))).is_err());
        let mut s = col(MYSQL_TYPE_SET, &[248, 2], false, Some(45));
        s.set_values = (b'a'..=b'j').map(|c| char::from(c).to_string()).collect();
        assert_eq!(dec(&s, Value::Bytes(vec![0, 0])), SqlValue::Set(vec![]));
        assert_eq!(text(&s, Value::Bytes(vec![0, 0])), "");
        assert_eq!(text(&s, Value::Bytes(vec![0b101, 0])), "a,c");
        assert_eq!(text(&s, Value::Bytes(vec![0b1000_0001, 0b10])), "a,h,j");
        assert!(decode_value(&s, Some(&BinlogValue::Value(Value::Bytes(vec![0, 0b100])))).is_err());
    }

    #[test]
    fn floats_shortest_round_trip() {
        let f = col(MYSQL_TYPE_FLOAT, &[4], false, None);
        let d = col(MYSQL_TYPE_DOUBLE, &[8], false, None);
        assert_eq!(text(&f, Value::Float(0.1)), "0.1");
        assert_eq!(text(&f, Value::Float(1.0)), "1");
        assert_eq!(text(&f, Value::Float(-1.5)), "-1.5");
        assert_eq!(text(&f, Value::Float(3.4028235e38)), "3.4028235e38");
        assert_eq!(text(&f, Value::Float(1e-10)), "1e-10");
        assert_eq!(text(&d, Value::Double(0.1)), "0.1");
        assert_eq!(text(&d, Value::Double(1.0)), "1");
        assert_eq!(text(&d, Value::Double(0.0)), "0");
        assert_eq!(text(&d, Value::Double(123456.789)), "123456.789");
        assert_eq!(text(&d, Value::Double(1e20)), "1e20");
        assert_eq!(text(&d, Value::Double(1.5e-7)), "1.5e-7");
        assert_eq!(text(&d, Value::Double(0.0001)), "0.0001");
        assert_eq!(
            text(&d, Value::Double(999_999_999_999_999.0)),
            "999999999999999"
        );
        assert_eq!(text(&d, Value::Double(1e15)), "1e15");
        assert_eq!(
            text(&d, Value::Double(-1.7976931348623157e308)),
            "-1.7976931348623157e308"
        );
        for x in [
            0.1f64,
            1.0 / 3.0,
            2.0f64.sqrt(),
            1e300,
            5e-324,
            -123.456e-10,
            9007199254740993.0,
        ] {
            assert_eq!(text(&d, Value::Double(x)).parse::<f64>().unwrap(), x);
        }
        for x in [0.1f32, 1.0 / 3.0, 16_777_217.0, 1e-45, -3.3e-5, 7e14] {
            assert_eq!(text(&f, Value::Float(x)).parse::<f32>().unwrap(), x);
        }
    }

    #[test]
    fn approx_size_counts_heap() {
        let base = std::mem::size_of::<SqlValue>();
        assert_eq!(SqlValue::Int(1).approx_size(), base);
        assert!(SqlValue::Text("x".repeat(100)).approx_size() >= base + 100);
        assert!(SqlValue::Bytes(vec![0; 50]).approx_size() >= base + 50);
        assert!(SqlValue::Set(vec!["abc".into(), "de".into()]).approx_size() >= base + 5);
    }
}
