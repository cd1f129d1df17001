//! MySQL's binary JSON (JSONB) -> MySQL's JSON text: [`json_text`] renders a JSONB value as
//! `SELECT` on a JSON column prints it.

use mysql_common::binlog::jsonb::{self, JsonDom, JsonNumber, JsonScalar};

use crate::model::value::float_text;

/// Renders a JSONB value as MySQL does (`{"a": 1, "b": [1, 2]}`): object members in stored
/// order (MySQL sorts keys by length, then bytes), `", "` and `": "` separators.
pub(super) fn json_text(v: &jsonb::Value<'_>) -> std::io::Result<String> {
    let mut out = String::new();
    write_json(v, &mut out)?;
    Ok(out)
}

fn write_json(v: &jsonb::Value<'_>, out: &mut String) -> std::io::Result<()> {
    use jsonb::Value as J;
    match v {
        J::SmallObject(o) => write_object(o.iter(), out),
        J::LargeObject(o) => write_object(o.iter(), out),
        J::SmallArray(a) => write_array(a.iter(), out),
        J::LargeArray(a) => write_array(a.iter(), out),
        J::String(s) => {
            write_json_string(&String::from_utf8_lossy(s.str_raw()), out);
            Ok(())
        }
        scalar => {
            match scalar.clone().parse()? {
                JsonDom::Scalar(s) => write_scalar(s, out),
                // Containers are handled above.
                JsonDom::Container(_) => {}
            }
            Ok(())
        }
    }
}

fn write_object<'a>(
    members: impl Iterator<Item = std::io::Result<(jsonb::ObjectKey<'a>, jsonb::Value<'a>)>>,
    out: &mut String,
) -> std::io::Result<()> {
    out.push('{');
    for (i, member) in members.enumerate() {
        let (key, value) = member?;
        if i > 0 {
            out.push_str(", ");
        }
        write_json_string(&String::from_utf8_lossy(key.value_raw()), out);
        out.push_str(": ");
        write_json(&value, out)?;
    }
    out.push('}');
    Ok(())
}

fn write_array<'a>(
    items: impl Iterator<Item = std::io::Result<jsonb::Value<'a>>>,
    out: &mut String,
) -> std::io::Result<()> {
    out.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_json(&item?, out)?;
    }
    out.push(']');
    Ok(())
}

fn write_scalar(s: JsonScalar, out: &mut String) {
    match s {
        JsonScalar::Null => out.push_str("null"),
        JsonScalar::Boolean(b) => out.push_str(if b { "true" } else { "false" }),
        JsonScalar::Number(JsonNumber::Int(i)) => out.push_str(&i.to_string()),
        JsonScalar::Number(JsonNumber::Uint(u)) => out.push_str(&u.to_string()),
        JsonScalar::Number(JsonNumber::Decimal(d)) => out.push_str(&d.to_string()),
        JsonScalar::Number(JsonNumber::Double(d)) => {
            let text = float_text(d, d.abs());
            // MySQL marks integral doubles as doubles: 1.0, not 1.
            let integral = text.bytes().all(|c| c.is_ascii_digit() || c == b'-');
            out.push_str(&text);
            if integral {
                out.push_str(".0");
            }
        }
        // DATE as YYYY-MM-DD, TIME/DATETIME/TIMESTAMP with 6 fraction digits, like MySQL.
        JsonScalar::DateTime(t) => write_json_string(&format!("{t:.6}"), out),
        JsonScalar::String(s) => write_json_string(&s, out),
        JsonScalar::Opaque(o) => write_json_string(&o.to_string(), out),
    }
}

/// A JSON string as MySQL quotes it: `"` `\` and \b \f \n \r \t escaped, other ASCII control
/// characters as `\u00xx`, everything else (non-ASCII included) as is.
fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{bytes, col, text};
    use super::super::value::decode_value;
    use super::super::DecodeError;
    use super::*;
    use crate::model::SqlValue;
    use mysql_common::binlog::value::BinlogValue;
    use mysql_common::constants::ColumnType::*;
    use mysql_common::io::ParseBuf;

    /// A tiny JSONB encoder (small storage format), enough for the renderer's tests.
    enum J {
        Null,
        Bool(bool),
        I16(i16),
        I64(i64),
        Dbl(f64),
        Str(&'static str),
        Arr(Vec<J>),
        Obj(Vec<(&'static str, J)>),
    }

    fn jsonb_doc(j: &J) -> Vec<u8> {
        let (t, body) = jsonb_value(j);
        let mut out = vec![t];
        out.extend(body);
        out
    }

    fn jsonb_value(j: &J) -> (u8, Vec<u8>) {
        match j {
            J::Null => (0x04, vec![0]),
            J::Bool(b) => (0x04, vec![if *b { 1 } else { 2 }]),
            J::I16(i) => (0x05, i.to_le_bytes().to_vec()),
            J::I64(i) => (0x09, i.to_le_bytes().to_vec()),
            J::Dbl(d) => (0x0B, d.to_le_bytes().to_vec()),
            J::Str(s) => {
                assert!(s.len() < 128);
                let mut v = vec![s.len() as u8];
                v.extend_from_slice(s.as_bytes());
                (0x0C, v)
            }
            J::Arr(items) => (
                0x02,
                jsonb_container(items.iter().map(|j| (None, j)).collect()),
            ),
            J::Obj(members) => (
                0x00,
                jsonb_container(members.iter().map(|(k, j)| (Some(*k), j)).collect()),
            ),
        }
    }

    fn jsonb_container(items: Vec<(Option<&str>, &J)>) -> Vec<u8> {
        let n = items.len();
        let is_obj = items.first().is_some_and(|(k, _)| k.is_some());
        let header = 4 + if is_obj { 4 * n } else { 0 } + 3 * n;
        let keys: Vec<u8> = items
            .iter()
            .flat_map(|(k, _)| k.unwrap_or("").bytes())
            .collect();
        let mut key_entries = Vec::new();
        let mut value_entries = Vec::new();
        let mut values = Vec::new();
        let mut key_off = header;
        for (k, j) in &items {
            if let Some(k) = k {
                key_entries.extend_from_slice(&(key_off as u16).to_le_bytes());
                key_entries.extend_from_slice(&(k.len() as u16).to_le_bytes());
                key_off += k.len();
            }
            let (t, body) = jsonb_value(j);
            value_entries.push(t);
            if matches!(j, J::Null | J::Bool(_) | J::I16(_)) {
                let mut inline = body;
                inline.resize(2, 0);
                value_entries.extend(inline);
            } else {
                let off = header + keys.len() + values.len();
                value_entries.extend_from_slice(&(off as u16).to_le_bytes());
                values.extend(body);
            }
        }
        let size = header + keys.len() + values.len();
        let mut out = Vec::new();
        out.extend_from_slice(&(n as u16).to_le_bytes());
        out.extend_from_slice(&(size as u16).to_le_bytes());
        out.extend(key_entries);
        out.extend(value_entries);
        out.extend(keys);
        out.extend(values);
        out
    }

    fn json_of(j: &J) -> String {
        let doc = jsonb_doc(j);
        let v: jsonb::Value<'_> = ParseBuf(&doc).parse(()).unwrap();
        let c = col(MYSQL_TYPE_JSON, &[4], false, None);
        match decode_value(&c, Some(&BinlogValue::Jsonb(v))).unwrap() {
            SqlValue::Json(s) => s,
            other => panic!("not JSON: {other:?}"),
        }
    }

    #[test]
    fn json_in_mysql_style() {
        let doc = J::Obj(vec![
            ("a", J::I16(1)),
            ("b", J::Arr(vec![J::I16(1), J::I16(2)])),
        ]);
        assert_eq!(json_of(&doc), r#"{"a": 1, "b": [1, 2]}"#);
        assert_eq!(json_of(&J::Obj(vec![])), "{}");
        assert_eq!(json_of(&J::Arr(vec![])), "[]");
        let doc = J::Arr(vec![
            J::Null,
            J::Bool(true),
            J::Bool(false),
            J::I64(-9_000_000_000),
            J::Dbl(1.0),
            J::Dbl(2.5),
            J::Dbl(1e20),
            J::Str("é😀\"\\\n\t\u{1}/"),
        ]);
        assert_eq!(
            json_of(&doc),
            "[null, true, false, -9000000000, 1.0, 2.5, 1e20, \"é😀\\\"\\\\\\n\\t\\u0001/\"]"
        );
        let nested = J::Obj(vec![(
            "k",
            J::Obj(vec![("x", J::Arr(vec![J::Obj(vec![("y", J::Null)])]))]),
        )]);
        assert_eq!(json_of(&nested), r#"{"k": {"x": [{"y": null}]}}"#);
        assert_eq!(json_of(&J::Str("s")), r#""s""#);
        assert_eq!(json_of(&J::I16(-3)), "-3");
        let c = col(MYSQL_TYPE_JSON, &[4], false, None);
        assert!(matches!(
            decode_value(&c, Some(&BinlogValue::JsonDiff(vec![]))),
            Err(DecodeError::PartialJson { .. })
        ));
        // MariaDB's JSON is a LONGTEXT: it arrives as text.
        let mariadb_json = col(MYSQL_TYPE_BLOB, &[4], false, Some(46));
        assert_eq!(text(&mariadb_json, bytes(r#"{"a": 1}"#)), r#"{"a": 1}"#);
    }
}
