//! Column values as the service sees them, and their text rendering.
//!
//! A [`SqlValue`] is one decoded column value, typed (see `source::decode` for how binlog values
//! become these, and `source::text` for text-protocol values). [`SqlValue::to_text`] renders it
//! as the bytes MySQL's text protocol returns for `SELECT col` in a session with
//! `time_zone = '+00:00'` and `NAMES utf8mb4`, the default HBase cell value; one exception:
//! FLOAT/DOUBLE text is not MySQL's (MySQL prints FLOAT with 6 significant digits, which does
//! not read back as the stored number) but the shortest text that parses back to the same
//! f32/f64: positional (`1`, `-0.5`, `123456.75`) when `1e-4 <= |x| < 1e15` or `x == 0`,
//! otherwise exponent style like MySQL's (`1e20`, `1.5e-7`, `-1.2345678901234568e17`).
//! A FLOAT is rendered from its f32 (`123456.79`), never from the f64 it widens to
//! (`123456.7890625`). Both sources build float values with [`SqlValue::float`] and
//! [`SqlValue::double`], which turn negative zero into zero: MySQL compares the two equal and
//! MariaDB stores only zero, so `-0` from one path and `0` from the other must not differ.

use crate::model::change::CellValue;

/// A decoded column value.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    UInt(u64),
    Float(f32),
    Double(f64),
    /// Exact decimal text, scale kept (`1.50`).
    Decimal(String),
    /// DATE (zero date allowed).
    Date {
        year: u16,
        month: u8,
        day: u8,
    },
    /// DATETIME with `fsp` fraction digits.
    DateTime {
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        micros: u32,
        fsp: u8,
    },
    /// TIMESTAMP as UTC seconds since the epoch (0 = the zero timestamp).
    Timestamp {
        secs: i64,
        micros: u32,
        fsp: u8,
    },
    /// TIME, possibly negative and over 24 hours.
    Time {
        negative: bool,
        hours: u32,
        minutes: u8,
        seconds: u8,
        micros: u32,
        fsp: u8,
    },
    Year(u16),
    /// Character data converted to UTF-8 from the column's charset.
    Text(String),
    /// Binary strings and blobs, raw.
    Bytes(Vec<u8>),
    /// BIT(n) as big-endian bytes, `(n + 7) / 8` of them.
    Bit(Vec<u8>),
    /// ENUM: 1-based index (0 = the empty invalid value) and its label.
    Enum {
        index: u16,
        label: String,
    },
    /// SET: labels in definition order.
    Set(Vec<String>),
    /// JSON as text.
    Json(String),
}

impl SqlValue {
    /// A FLOAT value, negative zero as zero (see the module doc).
    pub fn float(f: f32) -> SqlValue {
        SqlValue::Float(if f == 0.0 { 0.0 } else { f })
    }

    /// A DOUBLE value, negative zero as zero (see the module doc).
    pub fn double(d: f64) -> SqlValue {
        SqlValue::Double(if d == 0.0 { 0.0 } else { d })
    }
}

pub(crate) fn float_text<T: std::fmt::Display + std::fmt::LowerExp>(x: T, abs: f64) -> String {
    if abs == 0.0 || (1e-4..1e15).contains(&abs) || !abs.is_finite() {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// `.` and the first `fsp` of the six digits of `micros` (nothing for `fsp` 0).
fn push_fraction(out: &mut CellValue, micros: u32, fsp: u8) {
    if fsp > 0 {
        out.push(b'.');
        let start = out.len();
        push_padded(out, u64::from(micros % 1_000_000), 6);
        out.truncate(start + usize::from(fsp.min(6)));
    }
}

/// `v` in decimal, zero-padded to at least `width` digits (`format!("{v:0width$}")`, which
/// costs the formatting machinery on every cell).
fn push_padded(out: &mut CellValue, v: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(v).as_bytes();
    out.extend(std::iter::repeat_n(
        b'0',
        width.saturating_sub(digits.len()),
    ));
    out.extend_from_slice(digits);
}

/// `YYYY-MM-DD`.
fn push_date(out: &mut CellValue, year: u64, month: u64, day: u64) {
    push_padded(out, year, 4);
    out.push(b'-');
    push_padded(out, month, 2);
    out.push(b'-');
    push_padded(out, day, 2);
}

/// `HH:MM:SS` (hours may have more digits).
fn push_time(out: &mut CellValue, hours: u64, minutes: u64, seconds: u64) {
    push_padded(out, hours, 2);
    out.push(b':');
    push_padded(out, minutes, 2);
    out.push(b':');
    push_padded(out, seconds, 2);
}

/// Days since 1970-01-01 to the proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl SqlValue {
    /// The bytes MySQL's text protocol returns for this value (`SELECT col` with
    /// `time_zone = '+00:00'` and `NAMES utf8mb4`), except FLOAT/DOUBLE, which get the shortest
    /// text that reads back as the same number. `None` for NULL.
    pub fn to_text(&self) -> Option<Vec<u8>> {
        self.cell_text().map(CellValue::into_vec)
    }

    /// [`SqlValue::to_text`] as a cell's value: built in place, on the heap only when longer
    /// than a [`CellValue`] holds inline.
    pub fn cell_text(&self) -> Option<CellValue> {
        Some(match self {
            SqlValue::Null => return None,
            SqlValue::Int(i) => CellValue::from_slice(itoa::Buffer::new().format(*i).as_bytes()),
            SqlValue::UInt(u) => CellValue::from_slice(itoa::Buffer::new().format(*u).as_bytes()),
            SqlValue::Float(f) => {
                CellValue::from_slice(float_text(*f, f64::from(f.abs())).as_bytes())
            }
            SqlValue::Double(d) => CellValue::from_slice(float_text(*d, d.abs()).as_bytes()),
            SqlValue::Decimal(s) | SqlValue::Text(s) | SqlValue::Json(s) => {
                CellValue::from_slice(s.as_bytes())
            }
            SqlValue::Date { year, month, day } => {
                let mut out = CellValue::new();
                push_date(
                    &mut out,
                    u64::from(*year),
                    u64::from(*month),
                    u64::from(*day),
                );
                out
            }
            SqlValue::DateTime {
                year,
                month,
                day,
                hour,
                minute,
                second,
                micros,
                fsp,
            } => {
                let mut out = CellValue::new();
                push_date(
                    &mut out,
                    u64::from(*year),
                    u64::from(*month),
                    u64::from(*day),
                );
                out.push(b' ');
                push_time(
                    &mut out,
                    u64::from(*hour),
                    u64::from(*minute),
                    u64::from(*second),
                );
                push_fraction(&mut out, *micros, *fsp);
                out
            }
            SqlValue::Timestamp { secs, micros, fsp } => {
                let mut out = CellValue::new();
                if *secs == 0 && *micros == 0 {
                    out.extend_from_slice(b"0000-00-00 00:00:00");
                } else {
                    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
                    let tod = secs.rem_euclid(86_400) as u64;
                    push_date(&mut out, y.max(0) as u64, u64::from(mo), u64::from(d));
                    out.push(b' ');
                    push_time(&mut out, tod / 3600, tod / 60 % 60, tod % 60);
                }
                push_fraction(&mut out, *micros, *fsp);
                out
            }
            SqlValue::Time {
                negative,
                hours,
                minutes,
                seconds,
                micros,
                fsp,
            } => {
                let mut out = CellValue::new();
                if *negative {
                    out.push(b'-');
                }
                push_time(
                    &mut out,
                    u64::from(*hours),
                    u64::from(*minutes),
                    u64::from(*seconds),
                );
                push_fraction(&mut out, *micros, *fsp);
                out
            }
            SqlValue::Year(y) => {
                let mut out = CellValue::new();
                push_padded(&mut out, u64::from(*y), 4);
                out
            }
            SqlValue::Bytes(b) | SqlValue::Bit(b) => CellValue::from_slice(b),
            SqlValue::Enum { label, .. } => CellValue::from_slice(label.as_bytes()),
            SqlValue::Set(labels) => CellValue::from_vec(labels.join(",").into_bytes()),
        })
    }

    /// Approximate number of bytes this value holds (inline size plus heap), for memory accounting.
    pub fn approx_size(&self) -> usize {
        let heap = match self {
            SqlValue::Decimal(s) | SqlValue::Text(s) | SqlValue::Json(s) => s.capacity(),
            SqlValue::Enum { label, .. } => label.capacity(),
            SqlValue::Bytes(b) | SqlValue::Bit(b) => b.capacity(),
            SqlValue::Set(labels) => {
                labels.capacity() * std::mem::size_of::<String>()
                    + labels.iter().map(String::capacity).sum::<usize>()
            }
            _ => 0,
        };
        std::mem::size_of::<SqlValue>() + heap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: SqlValue) -> String {
        String::from_utf8(v.to_text().unwrap()).unwrap()
    }

    /// The text MySQL prints, without the formatting machinery per cell.
    #[test]
    fn temporal_and_integer_text_is_mysqls() {
        assert_eq!(text(SqlValue::Int(i64::MIN)), "-9223372036854775808");
        assert_eq!(text(SqlValue::UInt(u64::MAX)), "18446744073709551615");
        assert_eq!(
            text(SqlValue::Date {
                year: 7,
                month: 1,
                day: 9
            }),
            "0007-01-09"
        );
        let dt = |micros, fsp| SqlValue::DateTime {
            year: 2024,
            month: 12,
            day: 31,
            hour: 3,
            minute: 4,
            second: 5,
            micros,
            fsp,
        };
        assert_eq!(text(dt(0, 0)), "2024-12-31 03:04:05");
        assert_eq!(text(dt(45_000, 2)), "2024-12-31 03:04:05.04");
        assert_eq!(text(dt(7, 6)), "2024-12-31 03:04:05.000007");
        let ts = |secs, micros, fsp| SqlValue::Timestamp { secs, micros, fsp };
        assert_eq!(text(ts(0, 0, 0)), "0000-00-00 00:00:00");
        assert_eq!(text(ts(0, 0, 3)), "0000-00-00 00:00:00.000");
        assert_eq!(
            text(ts(1_700_000_000, 123_456, 3)),
            "2023-11-14 22:13:20.123"
        );
        let time = SqlValue::Time {
            negative: true,
            hours: 838,
            minutes: 59,
            seconds: 9,
            micros: 500_000,
            fsp: 1,
        };
        assert_eq!(text(time), "-838:59:09.5");
        assert_eq!(text(SqlValue::Year(901)), "0901");
    }
}
