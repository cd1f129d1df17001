//! The lossless encoding of a [`RowChange`] on the internal topic between `run --role capture`
//! and `run --role apply` (distributed mode).
//!
//! A message carries the change exactly as the single-process writer would receive it (HBase
//! table, family, row key, the full cell image or a row delete, and the version), plus where it
//! stands in its partition: the capture *run* that produced it and its *sequence number* within
//! that run and partition. Apply workers need both (see `sink::distributed`): a batch they
//! collapse and stamp with its last version must be a gapless slice of one run's sequence.
//!
//! Layout (big-endian): `b'M' 2 | run u64 | seq u64 | version i64 | table u16+bytes | family u16+bytes |
//! key u32+bytes | member u8 (0 none, 1 + u32+bytes) | op u8 (0 delete, 1 put, 2 replace) |
//! [cells u32 | per cell: column u32+bytes | 0 (NULL) or 1 + value u32+bytes]`. Format 1 (no
//! member byte, written before joined tables existed) is still read. Hand-written rather than a
//! serde format: a dozen fields, no schema evolution needed beyond the version byte, and the
//! decoder rejects every truncation.

use std::sync::Arc;

use crate::model::change::CellValue;
use crate::model::Version;
use crate::model::{Cell, RowChange, RowOp};

const MAGIC: u8 = b'M';
const FORMAT: u8 = 2;
/// The format before `member`, still read (a capture of an older release may have written it).
const FORMAT_WITHOUT_MEMBER: u8 = 1;

/// A change read back from the internal topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub run: u64,
    pub seq: u64,
    pub change: RowChange,
}

pub fn encode(run: u64, seq: u64, c: &RowChange) -> Vec<u8> {
    let mut out = Vec::with_capacity(c.size() + 40);
    out.extend_from_slice(&[MAGIC, FORMAT]);
    out.extend_from_slice(&run.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&c.version.0.to_be_bytes());
    put_bytes16(&mut out, c.table.as_bytes());
    put_bytes16(&mut out, c.family.as_bytes());
    put_bytes32(&mut out, &c.key);
    match &c.member {
        None => out.push(0),
        Some(m) => {
            out.push(1);
            put_bytes32(&mut out, m);
        }
    }
    match &c.op {
        RowOp::Delete => out.push(0),
        RowOp::Put(cells) | RowOp::Replace(cells) => {
            out.push(if matches!(c.op, RowOp::Put(_)) { 1 } else { 2 });
            out.extend_from_slice(&(cells.len() as u32).to_be_bytes());
            for cell in cells {
                put_bytes32(&mut out, &cell.column);
                match &cell.value {
                    None => out.push(0),
                    Some(v) => {
                        out.push(1);
                        put_bytes32(&mut out, v);
                    }
                }
            }
        }
    }
    out
}

pub fn decode(bytes: &[u8]) -> Result<Encoded, String> {
    let mut r = Reader(bytes);
    let format = r.take(2)?;
    if format != [MAGIC, FORMAT] && format != [MAGIC, FORMAT_WITHOUT_MEMBER] {
        return Err("not a mysql2hbase change (unknown magic or format version)".into());
    }
    let has_member = format[1] == FORMAT;
    let run = u64::from_be_bytes(r.array()?);
    let seq = u64::from_be_bytes(r.array()?);
    let version = Version(i64::from_be_bytes(r.array()?));
    let table = r.string16()?;
    let family = r.string16()?;
    let key = r.bytes32()?.to_vec();
    let member = match has_member {
        false => None,
        true => match r.take(1)?[0] {
            0 => None,
            1 => Some(Arc::from(r.bytes32()?)),
            b => return Err(format!("bad member flag {b}")),
        },
    };
    let op = match r.take(1)?[0] {
        0 => RowOp::Delete,
        kind @ (1 | 2) => {
            let n = u32::from_be_bytes(r.array()?) as usize;
            let mut cells = Vec::with_capacity(n.min(4096));
            for _ in 0..n {
                let column: Arc<[u8]> = Arc::from(r.bytes32()?);
                let value = match r.take(1)?[0] {
                    0 => None,
                    1 => Some(CellValue::from_slice(r.bytes32()?)),
                    b => return Err(format!("bad cell flag {b}")),
                };
                cells.push(Cell { column, value });
            }
            if kind == 1 {
                RowOp::Put(cells)
            } else {
                RowOp::Replace(cells)
            }
        }
        b => return Err(format!("bad operation byte {b}")),
    };
    if !r.0.is_empty() {
        return Err(format!("{} trailing bytes", r.0.len()));
    }
    Ok(Encoded {
        run,
        seq,
        change: RowChange {
            table: Arc::from(table),
            family: Arc::from(family),
            key,
            member,
            op,
            version,
        },
    })
}

fn put_bytes16(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

fn put_bytes32(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!(
                "truncated: needed {n} more bytes, {} left",
                self.0.len()
            ));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("length checked"))
    }
    fn bytes32(&mut self) -> Result<&'a [u8], String> {
        let n = u32::from_be_bytes(self.array()?) as usize;
        self.take(n)
    }
    fn string16(&mut self) -> Result<&'a str, String> {
        let n = u16::from_be_bytes(self.array()?) as usize;
        std::str::from_utf8(self.take(n)?).map_err(|e| format!("bad UTF-8 name: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put() -> RowChange {
        RowChange {
            table: "db_t".into(),
            family: "d".into(),
            key: vec![0, 1, 255],
            member: None,
            op: RowOp::Put(vec![
                Cell {
                    column: Arc::from(&b"d:a"[..]),
                    value: Some(CellValue::from_slice(&[0; 3])),
                },
                Cell {
                    column: Arc::from(&b"d:b"[..]),
                    value: None,
                },
                Cell {
                    column: Arc::from(&b"d:c"[..]),
                    value: Some(CellValue::new()),
                },
            ]),
            version: Version(1_700_000_000_123),
        }
    }

    #[test]
    fn round_trips_puts_replaces_deletes_empty_values_and_nulls() {
        let mut delete = put();
        delete.op = RowOp::Delete;
        let mut replace = put();
        replace.op = match replace.op {
            RowOp::Put(cells) => RowOp::Replace(cells),
            other => other,
        };
        let mut member = put();
        member.member = Some(Arc::from(&b"7:"[..]));
        let mut one_to_one = put();
        one_to_one.member = Some(Arc::from(&b""[..]));
        for (run, seq, c) in [
            (1, 0, put()),
            (u64::MAX, 77, delete),
            (5, 6, replace),
            (5, 7, member),
            (5, 8, one_to_one),
        ] {
            let decoded = decode(&encode(run, seq, &c)).unwrap();
            assert_eq!(
                decoded,
                Encoded {
                    run,
                    seq,
                    change: c
                }
            );
        }
    }

    /// A message of format 1 (before joined tables) reads as a change of no member.
    #[test]
    fn reads_the_format_without_member() {
        let mut bytes = encode(9, 3, &put());
        bytes[1] = FORMAT_WITHOUT_MEMBER;
        let key_end = 2 + 8 + 8 + 8 + (2 + 4) + (2 + 1) + (4 + 3);
        assert_eq!(bytes.remove(key_end), 0, "the member flag");
        assert_eq!(decode(&bytes).unwrap().change, put());
    }

    #[test]
    fn rejects_every_truncation_and_trailing_garbage() {
        let bytes = encode(9, 3, &put());
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "prefix of {n} bytes accepted");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode(&long).is_err());
    }
}
