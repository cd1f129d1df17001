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

fn push_fraction(out: &mut String, micros: u32, fsp: u8) {
    if fsp > 0 {
        let digits = format!("{:06}", micros % 1_000_000);
        out.push('.');
        out.push_str(&digits[..usize::from(fsp.min(6))]);
    }
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
        Some(match self {
            SqlValue::Null => return None,
            SqlValue::Int(i) => i.to_string().into_bytes(),
            SqlValue::UInt(u) => u.to_string().into_bytes(),
            SqlValue::Float(f) => float_text(*f, f64::from(f.abs())).into_bytes(),
            SqlValue::Double(d) => float_text(*d, d.abs()).into_bytes(),
            SqlValue::Decimal(s) | SqlValue::Text(s) | SqlValue::Json(s) => s.as_bytes().to_vec(),
            SqlValue::Date { year, month, day } => {
                format!("{year:04}-{month:02}-{day:02}").into_bytes()
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
                let mut s =
                    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}");
                push_fraction(&mut s, *micros, *fsp);
                s.into_bytes()
            }
            SqlValue::Timestamp { secs, micros, fsp } => {
                let mut s = if *secs == 0 && *micros == 0 {
                    "0000-00-00 00:00:00".to_string()
                } else {
                    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
                    let tod = secs.rem_euclid(86_400);
                    format!(
                        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
                        tod / 3600,
                        tod / 60 % 60,
                        tod % 60
                    )
                };
                push_fraction(&mut s, *micros, *fsp);
                s.into_bytes()
            }
            SqlValue::Time {
                negative,
                hours,
                minutes,
                seconds,
                micros,
                fsp,
            } => {
                let sign = if *negative { "-" } else { "" };
                let mut s = format!("{sign}{hours:02}:{minutes:02}:{seconds:02}");
                push_fraction(&mut s, *micros, *fsp);
                s.into_bytes()
            }
            SqlValue::Year(y) => format!("{y:04}").into_bytes(),
            SqlValue::Bytes(b) | SqlValue::Bit(b) => b.clone(),
            SqlValue::Enum { label, .. } => label.as_bytes().to_vec(),
            SqlValue::Set(labels) => labels.join(",").into_bytes(),
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
