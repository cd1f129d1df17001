//! MySQL GTID sets, followed along the binlog so the checkpoint can store the set executed up to
//! its position (`uuid:1-5:7-9,uuid2:1-3`). The router starts from the checkpoint's stored set
//! (or the server's `gtid_executed` on a first start), takes the PREVIOUS_GTIDS event at the top
//! of every binlog file into it, and adds each GTID event. MariaDB's GTIDs (`domain-server-seq`)
//! are not followed here: the server computes them from a position (`BINLOG_GTID_POS`).

use std::collections::BTreeMap;

/// A set of GTIDs: per source UUID, sorted, disjoint, inclusive intervals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GtidSet {
    sets: BTreeMap<String, Vec<(u64, u64)>>,
}

impl GtidSet {
    /// Parses MySQL's text form; `None` for anything else (MariaDB's form, empty text).
    pub fn parse(text: &str) -> Option<GtidSet> {
        let mut set = GtidSet::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut fields = part.split(':');
            let uuid = fields.next()?.to_ascii_lowercase();
            if uuid.len() != 36 {
                return None;
            }
            let mut any = false;
            for range in fields {
                // MySQL 8.4 tags (`uuid:tag:1-5`) are kept out: only numeric ranges count.
                let (start, end) = match range.split_once('-') {
                    Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                    None => match range.parse() {
                        Ok(n) => (n, n),
                        Err(_) => continue,
                    },
                };
                set.add_range(&uuid, start, end);
                any = true;
            }
            if !any {
                return None;
            }
        }
        (!set.sets.is_empty()).then_some(set)
    }

    pub fn add(&mut self, sid: [u8; 16], gno: u64) {
        self.add_range(&uuid_text(sid), gno, gno);
    }

    /// Adds the inclusive interval `start..=end` of `uuid`.
    pub fn add_range(&mut self, uuid: &str, start: u64, end: u64) {
        let ranges = self.sets.entry(uuid.to_string()).or_default();
        ranges.push((start, end));
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for &(s, e) in ranges.iter() {
            match merged.last_mut() {
                Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        *ranges = merged;
    }

    pub fn union(&mut self, other: &GtidSet) {
        for (uuid, ranges) in &other.sets {
            for &(s, e) in ranges {
                self.add_range(uuid, s, e);
            }
        }
    }

    /// Per source UUID (16 bytes), its inclusive intervals.
    pub fn uuid_intervals(&self) -> impl Iterator<Item = ([u8; 16], &[(u64, u64)])> {
        self.sets.iter().filter_map(|(uuid, ranges)| {
            let hex: String = uuid.chars().filter(|c| *c != '-').collect();
            let mut bytes = [0u8; 16];
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
            }
            Some((bytes, ranges.as_slice()))
        })
    }

    /// MySQL's text form.
    pub fn render(&self) -> String {
        self.sets
            .iter()
            .map(|(uuid, ranges)| {
                let mut out = uuid.clone();
                for &(s, e) in ranges {
                    if s == e {
                        out.push_str(&format!(":{s}"));
                    } else {
                        out.push_str(&format!(":{s}-{e}"));
                    }
                }
                out
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `3E11FA47-71CA-11E1-9E33-C80AA9429562` form of a binary UUID, lower case.
pub fn uuid_text(sid: [u8; 16]) -> String {
    let hex: String = sid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

    #[test]
    fn parse_add_and_render() {
        let mut set = GtidSet::parse(&format!("{}:1-5:7", U.to_uppercase())).unwrap();
        assert_eq!(set.render(), format!("{U}:1-5:7"));
        set.add_range(U, 6, 6);
        assert_eq!(set.render(), format!("{U}:1-7"));
        let sid: [u8; 16] = [
            0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42,
            0x95, 0x62,
        ];
        assert_eq!(uuid_text(sid), U);
        let (bytes, ranges) = set.uuid_intervals().next().unwrap();
        assert_eq!((bytes, ranges), (sid, &[(1, 7)][..]));
        set.add(sid, 9);
        assert_eq!(set.render(), format!("{U}:1-7:9"));
        let other = GtidSet::parse("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee:1-2").unwrap();
        set.union(&other);
        assert_eq!(
            set.render(),
            format!("{U}:1-7:9,aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee:1-2")
        );
    }

    #[test]
    fn other_forms_are_not_mysql_sets() {
        assert_eq!(GtidSet::parse("0-1-42"), None);
        assert_eq!(GtidSet::parse(""), None);
        assert_eq!(GtidSet::parse(&format!("{U}:x")), None);
    }
}
