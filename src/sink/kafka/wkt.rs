//! MySQL GEOMETRY values as WKT text, the way Maxwell writes them.
//!
//! MySQL stores a geometry as a 4-byte SRID followed by standard WKB (2D). Maxwell skips the
//! SRID, reads the WKB with JTS and prints `Geometry.toString()`, JTS's `WKTWriter` output:
//! `POINT (1 2)`, `LINESTRING (0 0, 1 1)`, `POLYGON ((0 0, 1 0, 1 1, 0 0))`,
//! `MULTIPOINT ((0 0), (1 1))`, `MULTIPOLYGON (((...)), ((...)))`,
//! `GEOMETRYCOLLECTION (POINT (1 2), ...)`, `<TYPE> EMPTY` when there is nothing, and
//! coordinates in plain decimal (no exponent, at most 16 fraction digits, no trailing zeros).
//! Written here rather than with the `wkt` crate because that crate prints `POINT(1 2)`, which is
//! not what Maxwell consumers parse today.

/// The WKT of a MySQL geometry value (SRID + WKB); `None` when the bytes are not valid WKB.
pub fn mysql_geometry_wkt(value: &[u8]) -> Option<String> {
    let mut wkb = Wkb {
        bytes: value.get(4..)?,
    };
    let mut out = String::new();
    wkb.geometry(&mut out, true, 0)?;
    wkb.bytes.is_empty().then_some(out)
}

/// Nesting deeper than this is refused (a collection can hold collections).
const MAX_DEPTH: usize = 32;

struct Wkb<'a> {
    bytes: &'a [u8],
}

impl Wkb<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn u32(&mut self, little_endian: bool) -> Option<u32> {
        let b: [u8; 4] = self.take(4)?.try_into().ok()?;
        Some(if little_endian {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    fn f64(&mut self, little_endian: bool) -> Option<f64> {
        let b: [u8; 8] = self.take(8)?.try_into().ok()?;
        Some(if little_endian {
            f64::from_le_bytes(b)
        } else {
            f64::from_be_bytes(b)
        })
    }

    /// A count of items that each take at least `min_bytes`: a count the rest cannot hold is
    /// refused before anything is allocated for it.
    fn count(&mut self, little_endian: bool, min_bytes: usize) -> Option<usize> {
        let n = self.u32(little_endian)? as usize;
        (n.checked_mul(min_bytes)? <= self.bytes.len()).then_some(n)
    }

    /// One geometry with its byte order and type; `tagged` writes the type name (false for
    /// the points, lines and polygons inside MULTI* types, which JTS writes bare).
    fn geometry(&mut self, out: &mut String, tagged: bool, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let little_endian = match self.take(1)?[0] {
            0 => false,
            1 => true,
            _ => return None,
        };
        let kind = self.u32(little_endian)?;
        let name = match kind {
            1 => "POINT",
            2 => "LINESTRING",
            3 => "POLYGON",
            4 => "MULTIPOINT",
            5 => "MULTILINESTRING",
            6 => "MULTIPOLYGON",
            7 => "GEOMETRYCOLLECTION",
            _ => return None,
        };
        if tagged {
            out.push_str(name);
            out.push(' ');
        }
        let le = little_endian;
        match kind {
            1 => {
                let (x, y) = (self.f64(le)?, self.f64(le)?);
                if x.is_nan() && y.is_nan() {
                    out.push_str("EMPTY");
                } else {
                    out.push('(');
                    push_coordinate(out, x, y);
                    out.push(')');
                }
            }
            2 => self.points(out, le)?,
            3 => self.list(out, le, 4, |w, out| w.points(out, le))?,
            // Members of MULTI* types carry their own byte order and type.
            4 => self.list(out, le, 21, |w, out| w.member(out, 1, depth))?,
            5 => self.list(out, le, 9, |w, out| w.member(out, 2, depth))?,
            6 => self.list(out, le, 9, |w, out| w.member(out, 3, depth))?,
            _ => self.list(out, le, 5, |w, out| w.geometry(out, true, depth + 1))?,
        }
        Some(())
    }

    /// A member of a MULTI* geometry, which must be of `kind`.
    fn member(&mut self, out: &mut String, kind: u32, depth: usize) -> Option<()> {
        let le = *self.bytes.first()? == 1;
        let member_kind = Wkb {
            bytes: self.bytes.get(1..)?,
        }
        .u32(le)?;
        (member_kind == kind).then_some(())?;
        self.geometry(out, false, depth + 1)
    }

    /// `(x y, x y, ...)`, or `EMPTY`.
    fn points(&mut self, out: &mut String, le: bool) -> Option<()> {
        self.list(out, le, 16, |w, out| {
            let (x, y) = (w.f64(le)?, w.f64(le)?);
            push_coordinate(out, x, y);
            Some(())
        })
    }

    /// `(item, item, ...)`, or `EMPTY`, for a count of items of at least `min_bytes` each.
    fn list(
        &mut self,
        out: &mut String,
        le: bool,
        min_bytes: usize,
        mut item: impl FnMut(&mut Self, &mut String) -> Option<()>,
    ) -> Option<()> {
        let n = self.count(le, min_bytes)?;
        if n == 0 {
            out.push_str("EMPTY");
            return Some(());
        }
        out.push('(');
        for i in 0..n {
            if i > 0 {
                out.push_str(", ");
            }
            item(self, out)?;
        }
        out.push(')');
        Some(())
    }
}

fn push_coordinate(out: &mut String, x: f64, y: f64) {
    push_ordinate(out, x);
    out.push(' ');
    push_ordinate(out, y);
}

/// JTS's `OrdinateFormat`: plain decimal, at most 16 fraction digits, `NaN`, `Inf`, `-Inf`.
fn push_ordinate(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Inf" } else { "-Inf" });
    } else {
        // Rust's shortest round-trip text never uses an exponent for `{}`.
        let text = v.to_string();
        match text.split_once('.') {
            Some((_, fraction)) if fraction.len() > 16 => {
                let rounded = format!("{v:.16}");
                let trimmed = rounded.trim_end_matches('0').trim_end_matches('.');
                out.push_str(if trimmed == "-0" { "0" } else { trimmed });
            }
            _ => out.push_str(if text == "-0" { "0" } else { &text }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian WKB header.
    fn header(kind: u32) -> Vec<u8> {
        let mut b = vec![1];
        b.extend(kind.to_le_bytes());
        b
    }

    fn points(list: &[(f64, f64)]) -> Vec<u8> {
        let mut b = (list.len() as u32).to_le_bytes().to_vec();
        for (x, y) in list {
            b.extend(x.to_le_bytes());
            b.extend(y.to_le_bytes());
        }
        b
    }

    fn point(x: f64, y: f64) -> Vec<u8> {
        [
            header(1),
            x.to_le_bytes().to_vec(),
            y.to_le_bytes().to_vec(),
        ]
        .concat()
    }

    fn line(list: &[(f64, f64)]) -> Vec<u8> {
        [header(2), points(list)].concat()
    }

    fn polygon(rings: &[&[(f64, f64)]]) -> Vec<u8> {
        let mut b = header(3);
        b.extend((rings.len() as u32).to_le_bytes());
        for r in rings {
            b.extend(points(r));
        }
        b
    }

    fn collection(kind: u32, members: &[Vec<u8>]) -> Vec<u8> {
        let mut b = header(kind);
        b.extend((members.len() as u32).to_le_bytes());
        for m in members {
            b.extend(m);
        }
        b
    }

    /// With MySQL's SRID in front.
    fn wkt(wkb: &[u8]) -> Option<String> {
        mysql_geometry_wkt(&[&[0, 0, 0, 0][..], wkb].concat())
    }

    #[test]
    fn every_geometry_type_as_jts_writes_it() {
        let square = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 0.0)];
        let hole = [(1.0, 1.0), (2.0, 1.0), (2.0, 2.0), (1.0, 1.0)];
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (point(1.0, -2.5), "POINT (1 -2.5)"),
            (point(f64::NAN, f64::NAN), "POINT EMPTY"),
            (
                line(&[(0.0, 0.0), (1.5, 1.25)]),
                "LINESTRING (0 0, 1.5 1.25)",
            ),
            (line(&[]), "LINESTRING EMPTY"),
            (
                polygon(&[&square, &hole]),
                "POLYGON ((0 0, 10 0, 10 10, 0 0), (1 1, 2 1, 2 2, 1 1))",
            ),
            (
                collection(4, &[point(0.0, 0.0), point(1.0, 1.0)]),
                "MULTIPOINT ((0 0), (1 1))",
            ),
            (
                collection(
                    5,
                    &[
                        line(&[(0.0, 0.0), (1.0, 1.0)]),
                        line(&[(2.0, 2.0), (3.0, 3.0)]),
                    ],
                ),
                "MULTILINESTRING ((0 0, 1 1), (2 2, 3 3))",
            ),
            (
                collection(6, &[polygon(&[&square]), polygon(&[&hole])]),
                "MULTIPOLYGON (((0 0, 10 0, 10 10, 0 0)), ((1 1, 2 1, 2 2, 1 1)))",
            ),
            (
                collection(7, &[point(1.0, 2.0), line(&[(0.0, 0.0), (1.0, 1.0)])]),
                "GEOMETRYCOLLECTION (POINT (1 2), LINESTRING (0 0, 1 1))",
            ),
            (collection(7, &[]), "GEOMETRYCOLLECTION EMPTY"),
            (
                collection(7, &[collection(7, &[point(1.0, 2.0)])]),
                "GEOMETRYCOLLECTION (GEOMETRYCOLLECTION (POINT (1 2)))",
            ),
        ];
        for (wkb, want) in cases {
            assert_eq!(wkt(&wkb).as_deref(), Some(want));
        }
        // Big-endian WKB too.
        let mut be = vec![0, 0, 0, 0, 0, 0, 0, 0, 1];
        be.extend(3.0f64.to_be_bytes());
        be.extend(4.0f64.to_be_bytes());
        assert_eq!(mysql_geometry_wkt(&be).as_deref(), Some("POINT (3 4)"));
    }

    #[test]
    fn coordinates_in_plain_decimal() {
        let text = |v: f64| {
            let mut s = String::new();
            push_ordinate(&mut s, v);
            s
        };
        assert_eq!(text(116.397_128), "116.397128");
        assert_eq!(text(-0.0), "0");
        assert_eq!(text(1e21), "1000000000000000000000");
        assert_eq!(text(0.1 + 0.2), "0.3", "rounded to 16 fraction digits");
        assert_eq!(text(1e-20), "0");
        assert_eq!(text(f64::INFINITY), "Inf");
    }

    #[test]
    fn bad_wkb_is_refused() {
        assert_eq!(mysql_geometry_wkt(&[0, 0]), None, "shorter than the SRID");
        assert_eq!(wkt(&point(1.0, 2.0)[..12]), None, "truncated");
        assert_eq!(
            wkt(&[point(1.0, 2.0), vec![0]].concat()),
            None,
            "trailing bytes"
        );
        assert_eq!(wkt(&header(9)), None, "unknown type");
        assert_eq!(wkt(&[2, 1, 0, 0, 0]), None, "bad byte order");
        // A count larger than the bytes that follow allocates nothing and fails.
        assert_eq!(
            wkt(&[header(2), u32::MAX.to_le_bytes().to_vec()].concat()),
            None
        );
        // A MULTIPOINT holding a line.
        assert_eq!(wkt(&collection(4, &[line(&[(0.0, 0.0)])])), None);
        // Collections nested deeper than MAX_DEPTH.
        let mut deep = point(0.0, 0.0);
        for _ in 0..40 {
            deep = collection(7, &[deep]);
        }
        assert_eq!(wkt(&deep), None);
    }
}
