//! Character sets -> UTF-8: [`decode_chars`] converts character data of a collation id
//! (MySQL's or MariaDB's) to UTF-8.
//!
//! utf8mb3/utf8mb4 as-is, latin1 as MySQL's cp1252 variant, ascii, ucs2/utf16/utf16le/utf32
//! exactly; the other legacy sets (cp125x, latin2/5/7, greek, hebrew, koi8, cp866, macroman,
//! tis620, sjis/cp932, ujis, euckr, gb2312/gbk/gb18030, big5) through `encoding_rs`' WHATWG
//! tables, which can differ from MySQL's for a few code points. dec8, hp8, swe7, keybcs2,
//! armscii8, geostd8, cp850, cp852 and macce are not supported (the callers report
//! [`DecodeError::UnsupportedCharset`](super::DecodeError::UnsupportedCharset)).

enum Charset {
    Utf8,
    Latin1,
    Ascii,
    Binary,
    Ucs2,
    Utf16,
    Utf16Le,
    Utf32,
    Legacy(&'static encoding_rs::Encoding),
    Unsupported,
}

/// Character set of a MySQL or MariaDB collation id.
fn charset_of(collation: u16) -> Charset {
    use encoding_rs as e;
    use Charset::*;
    match collation {
        // MariaDB: NOPAD variants are the base id + 1024; UCA 14.0.0 collations by charset block.
        1024..=2047 => charset_of(collation - 1024),
        2048..=2303 => Utf8,
        2304..=2559 => Utf8,
        2560..=2815 => Ucs2,
        2816..=3071 => Utf16,
        3072..=3327 => Utf32,
        33 | 76 | 83 | 192..=223 | 576..=607 => Utf8,
        45 | 46 | 224..=247 | 255..=323 | 608..=639 => Utf8,
        5 | 8 | 15 | 31 | 47..=49 | 94 => Latin1,
        11 | 65 => Ascii,
        63 => Binary,
        35 | 90 | 128..=159 | 640..=671 => Ucs2,
        54 | 55 | 101..=124 | 672..=703 => Utf16,
        56 | 62 => Utf16Le,
        60 | 61 | 160..=183 | 736..=767 => Utf32,
        1 | 84 => Legacy(e::BIG5),
        2 | 9 | 21 | 27 | 77 => Legacy(e::ISO_8859_2),
        7 | 74 => Legacy(e::KOI8_R),
        12 | 91 | 97 | 98 => Legacy(e::EUC_JP),
        13 | 88 | 95 | 96 => Legacy(e::SHIFT_JIS),
        14 | 23 | 50..=52 => Legacy(e::WINDOWS_1251),
        16 | 71 => Legacy(e::ISO_8859_8),
        18 | 89 => Legacy(e::WINDOWS_874),
        19 | 85 => Legacy(e::EUC_KR),
        20 | 41 | 42 | 79 => Legacy(e::ISO_8859_13),
        22 | 75 => Legacy(e::KOI8_U),
        24 | 86 | 28 | 87 => Legacy(e::GBK),
        25 | 70 => Legacy(e::ISO_8859_7),
        26 | 34 | 44 | 66 | 99 => Legacy(e::WINDOWS_1250),
        29 | 58 | 59 => Legacy(e::WINDOWS_1257),
        30 | 78 => Legacy(e::WINDOWS_1254),
        36 | 68 => Legacy(e::IBM866),
        39 | 53 => Legacy(e::MACINTOSH),
        57 | 67 => Legacy(e::WINDOWS_1256),
        248..=250 => Legacy(e::GB18030),
        _ => Unsupported,
    }
}

/// MySQL's latin1 is cp1252, except that its five undefined bytes map to the C1 controls.
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

/// Converts character data of the given collation to UTF-8 (`Err` = charset not supported).
/// Sequences that cannot be converted become `?`, as MySQL does.
pub(super) fn decode_chars(b: &[u8], collation: u16) -> Result<String, ()> {
    Ok(match charset_of(collation) {
        Charset::Utf8 | Charset::Binary => match std::str::from_utf8(b) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(b).replace('\u{FFFD}', "?"),
        },
        Charset::Latin1 => b
            .iter()
            .map(|&c| match c {
                0x80..=0x9F => CP1252_HIGH[usize::from(c - 0x80)],
                _ => char::from(c),
            })
            .collect(),
        Charset::Ascii => b
            .iter()
            .map(|&c| if c < 0x80 { char::from(c) } else { '?' })
            .collect(),
        Charset::Ucs2 | Charset::Utf16 => {
            let units = b
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            char::decode_utf16(units)
                .map(|c| c.unwrap_or('?'))
                .collect()
        }
        Charset::Utf16Le => {
            let units = b
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            char::decode_utf16(units)
                .map(|c| c.unwrap_or('?'))
                .collect()
        }
        Charset::Utf32 => b
            .chunks(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                char::from_u32(u32::from_be_bytes(w)).unwrap_or('?')
            })
            .collect(),
        Charset::Legacy(enc) => {
            let (s, _) = enc.decode_without_bom_handling(b);
            s.replace('\u{FFFD}', "?")
        }
        Charset::Unsupported => return Err(()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{bytes, col, dec, text};
    use super::super::value::decode_value;
    use super::super::DecodeError;
    use crate::model::SqlValue;
    use mysql_common::binlog::value::BinlogValue;
    use mysql_common::constants::ColumnType::*;
    use mysql_common::Value;

    #[test]
    fn character_sets() {
        let utf8mb4 = col(MYSQL_TYPE_VARCHAR, &[40, 0], false, Some(45));
        assert_eq!(dec(&utf8mb4, bytes("a😀é")), SqlValue::Text("a😀é".into()));
        assert_eq!(
            text(&utf8mb4, bytes("😀")).as_bytes(),
            [0xF0, 0x9F, 0x98, 0x80]
        );
        let uca1400 = col(MYSQL_TYPE_VARCHAR, &[40, 0], false, Some(2304 + 1));
        assert_eq!(text(&uca1400, bytes("😀")), "😀");
        let latin1 = col(MYSQL_TYPE_VARCHAR, &[10, 0], false, Some(8));
        assert_eq!(
            dec(&latin1, Value::Bytes(vec![0xE9])),
            SqlValue::Text("é".into())
        );
        assert_eq!(
            text(&latin1, Value::Bytes(vec![b'a', 0x80, 0x81, 0x9F, 0xFF])),
            "a€\u{81}Ÿÿ"
        );
        let latin1_nopad = col(MYSQL_TYPE_VARCHAR, &[10, 0], false, Some(1024 + 8));
        assert_eq!(text(&latin1_nopad, Value::Bytes(vec![0xE9])), "é");
        let ascii = col(MYSQL_TYPE_STRING, &[0xFE, 3], false, Some(11));
        assert_eq!(text(&ascii, Value::Bytes(vec![b'a', 0xE9])), "a?");
        let ucs2 = col(MYSQL_TYPE_VARCHAR, &[20, 0], false, Some(35));
        assert_eq!(
            text(&ucs2, Value::Bytes(vec![0x00, 0xE9, 0x20, 0xAC])),
            "é€"
        );
        let utf16 = col(MYSQL_TYPE_VARCHAR, &[20, 0], false, Some(54));
        assert_eq!(
            text(&utf16, Value::Bytes(vec![0xD8, 0x3D, 0xDE, 0x00])),
            "😀"
        );
        let utf16le = col(MYSQL_TYPE_VARCHAR, &[20, 0], false, Some(56));
        assert_eq!(
            text(&utf16le, Value::Bytes(vec![0x3D, 0xD8, 0x00, 0xDE])),
            "😀"
        );
        let utf32 = col(MYSQL_TYPE_VARCHAR, &[20, 0], false, Some(60));
        assert_eq!(text(&utf32, Value::Bytes(vec![0, 1, 0xF6, 0x00])), "😀");
        let cp1251 = col(MYSQL_TYPE_VARCHAR, &[20, 0], false, Some(51));
        assert_eq!(text(&cp1251, Value::Bytes(vec![0xCF, 0xF0, 0xE8])), "При");
        let gbk = col(MYSQL_TYPE_VARCHAR, &[20, 0], false, Some(28));
        assert_eq!(
            text(&gbk, Value::Bytes(vec![0xC4, 0xE3, 0xBA, 0xC3])),
            "你好"
        );
        let dec8 = col(MYSQL_TYPE_VARCHAR, &[20, 0], false, Some(3));
        assert!(matches!(
            decode_value(&dec8, Some(&BinlogValue::Value(bytes("x")))),
            Err(DecodeError::UnsupportedCharset { collation: 3, .. })
        ));
    }
}
