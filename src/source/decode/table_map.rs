//! TABLE_MAP event -> [`TableSchema`]: [`table_schema`] reads the column types, type metadata
//! and the `binlog_row_metadata=FULL` optional metadata (names, signedness, charsets, ENUM/SET
//! labels, primary key); [`table_schema_with`] fills what the event lacks from a schema read from
//! `information_schema`.
//!
//! MariaDB counts GEOMETRY columns among the character columns of the charset metadata, MySQL
//! does not: [`table_schema`] works out which one it reads.

use mysql_common::binlog::events::{OptionalMetadataField, TableMapEvent};
use mysql_common::constants::ColumnType;

use super::charset::decode_chars;
use super::DecodeError;
use crate::model::{ColumnSchema, TableSchema};

/// How a charset metadata field lists the charsets of the columns it covers.
enum CharsetSpec {
    /// `*_DEFAULT_CHARSET`: a default plus `(index among the covered columns, collation)`.
    Default {
        default: u16,
        non_default: Vec<(u64, u16)>,
    },
    /// `*_COLUMN_CHARSET`: one collation per covered column.
    PerColumn(Vec<u16>),
}

impl CharsetSpec {
    /// The collation of each of `count` covered columns, or `None` if the field does not fit.
    fn resolve(&self, count: usize) -> Option<Vec<u16>> {
        match self {
            CharsetSpec::Default {
                default,
                non_default,
            } => {
                let mut out = vec![*default; count];
                for &(idx, collation) in non_default {
                    *out.get_mut(usize::try_from(idx).ok()?)? = collation;
                }
                Some(out)
            }
            CharsetSpec::PerColumn(list) => (list.len() == count).then(|| list.clone()),
        }
    }
}

fn is_string_type(t: ColumnType) -> bool {
    use ColumnType::*;
    matches!(
        t,
        MYSQL_TYPE_STRING
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_BLOB
            | MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
    )
}

/// Builds a table's schema from its TABLE_MAP event, which must carry the
/// `binlog_row_metadata=FULL` optional metadata (column names, ENUM/SET labels, ...).
///
/// Without column names it returns [`DecodeError::MissingColumnNames`].
pub fn table_schema(tme: &TableMapEvent<'_>) -> Result<TableSchema, DecodeError> {
    table_schema_with(tme, None)
}

/// Like [`table_schema`], filling what the event's metadata lacks (servers with
/// `binlog_row_metadata` other than FULL: names, primary key, signedness, charsets, ENUM/SET
/// labels) from `fallback`, the table's schema read from `information_schema`. Types and type
/// metadata always come from the event; a fallback with another column count is refused.
pub fn table_schema_with(
    tme: &TableMapEvent<'_>,
    fallback: Option<&TableSchema>,
) -> Result<TableSchema, DecodeError> {
    let database = tme.database_name().into_owned();
    let table = tme.table_name().into_owned();
    let bad = |reason: String| DecodeError::BadTableMap {
        database: database.clone(),
        table: table.clone(),
        reason,
    };
    let n = usize::try_from(tme.columns_count()).map_err(|_| bad("too many columns".into()))?;

    let mut types = Vec::with_capacity(n);
    let mut metas = Vec::with_capacity(n);
    for i in 0..n {
        let t = match tme.get_column_type(i) {
            Ok(Some(t)) => t,
            Ok(None) => return Err(bad(format!("no type for column {i}"))),
            Err(e) => return Err(bad(format!("column {i}: {e}"))),
        };
        types.push(t);
        metas.push(
            tme.get_column_metadata(i)
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
        );
    }

    let mut signedness: Option<Vec<bool>> = None;
    let mut charsets: Option<CharsetSpec> = None;
    let mut enum_set_charsets: Option<CharsetSpec> = None;
    let mut names: Option<Vec<String>> = None;
    let mut enum_labels: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut set_labels: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut primary_key: Vec<usize> = Vec::new();
    let mut has_visibility = false;

    let spec_default = |d: &mysql_common::binlog::events::DefaultCharset<'_>| {
        let non_default = d
            .iter_non_default()
            .map(|x| x.map(|x| (x.column_index(), x.charset())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok::<_, std::io::Error>(CharsetSpec::Default {
            default: d.default_charset(),
            non_default,
        })
    };
    let spec_column = |c: &mysql_common::binlog::events::ColumnCharsets<'_>| {
        Ok::<_, std::io::Error>(CharsetSpec::PerColumn(
            c.iter_charsets().collect::<Result<Vec<_>, _>>()?,
        ))
    };

    for field in tme.iter_optional_meta() {
        let field = field.map_err(|e| bad(format!("optional metadata: {e}")))?;
        let meta_err = |e: std::io::Error| bad(format!("optional metadata: {e}"));
        match field {
            OptionalMetadataField::Signedness(bits) => {
                signedness = Some(bits.iter().by_vals().collect());
            }
            OptionalMetadataField::DefaultCharset(d) => {
                charsets = Some(spec_default(&d).map_err(meta_err)?)
            }
            OptionalMetadataField::ColumnCharset(c) => {
                charsets = Some(spec_column(&c).map_err(meta_err)?)
            }
            OptionalMetadataField::EnumAndSetDefaultCharset(d) => {
                enum_set_charsets = Some(spec_default(&d).map_err(meta_err)?)
            }
            OptionalMetadataField::EnumAndSetColumnCharset(c) => {
                enum_set_charsets = Some(spec_column(&c).map_err(meta_err)?)
            }
            OptionalMetadataField::ColumnName(c) => {
                let list = c
                    .iter_names()
                    .map(|x| x.map(|x| String::from_utf8_lossy(x.name_raw()).into_owned()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(meta_err)?;
                names = Some(list);
            }
            OptionalMetadataField::EnumStrValue(v) => {
                for col in v.iter_values() {
                    let col = col.map_err(meta_err)?;
                    enum_labels.push(
                        col.values()
                            .iter()
                            .map(|x| x.value_raw().to_vec())
                            .collect(),
                    );
                }
            }
            OptionalMetadataField::SetStrValue(v) => {
                for col in v.iter_values() {
                    let col = col.map_err(meta_err)?;
                    set_labels.push(
                        col.values()
                            .iter()
                            .map(|x| x.value_raw().to_vec())
                            .collect(),
                    );
                }
            }
            OptionalMetadataField::SimplePrimaryKey(pk) => {
                for idx in pk.iter_indexes() {
                    primary_key.push(idx.map_err(meta_err)? as usize);
                }
            }
            OptionalMetadataField::PrimaryKeyWithPrefix(pk) => {
                for key in pk.iter_keys() {
                    primary_key.push(key.map_err(meta_err)?.column_index() as usize);
                }
            }
            OptionalMetadataField::ColumnVisibility(_) => has_visibility = true,
            OptionalMetadataField::GeometryType(_) | OptionalMetadataField::Dimensionality(_) => {}
        }
    }

    let fallback = fallback.filter(|f| f.columns.len() == n);
    if let Some(f) = fallback {
        if names.is_none() {
            names = Some(f.columns.iter().map(|c| c.name.clone()).collect());
            if primary_key.is_empty() {
                primary_key = f.primary_key.clone();
            }
        }
        if signedness.is_none() {
            let flags = (0..n)
                .filter(|&i| types[i].is_numeric_type())
                .map(|i| f.columns[i].unsigned)
                .collect();
            signedness = Some(flags);
        }
        if charsets.is_none() {
            let per_column = (0..n)
                .filter(|&i| is_string_type(types[i]))
                .map(|i| f.columns[i].collation.unwrap_or(63))
                .collect();
            charsets = Some(CharsetSpec::PerColumn(per_column));
        }
        if enum_labels.is_empty() && set_labels.is_empty() {
            for (i, c) in f.columns.iter().enumerate() {
                match types[i] {
                    ColumnType::MYSQL_TYPE_ENUM => enum_labels.push(
                        c.enum_values
                            .iter()
                            .map(|l| l.as_bytes().to_vec())
                            .collect(),
                    ),
                    ColumnType::MYSQL_TYPE_SET => set_labels
                        .push(c.set_values.iter().map(|l| l.as_bytes().to_vec()).collect()),
                    _ => {}
                }
            }
            // Labels from information_schema are UTF-8 already.
            enum_set_charsets = Some(CharsetSpec::PerColumn(
                (0..n)
                    .filter(|&i| types[i].is_enum_or_set_type())
                    .map(|_| 45)
                    .collect(),
            ));
        }
    }
    let Some(names) = names else {
        return Err(DecodeError::MissingColumnNames { database, table });
    };
    if names.len() != n {
        return Err(bad(format!("{} column names for {n} columns", names.len())));
    }
    if let Some(&pk) = primary_key.iter().find(|&&i| i >= n) {
        return Err(bad(format!("primary key column {pk} out of range")));
    }

    // Signedness: one flag per numeric column (YEAR and DECIMAL included), in column order.
    let mut unsigned = vec![false; n];
    if let Some(flags) = signedness {
        let numeric: Vec<usize> = (0..n).filter(|&i| types[i].is_numeric_type()).collect();
        if flags.len() < numeric.len() {
            return Err(bad(format!(
                "{} signedness flags for {} numeric columns",
                flags.len(),
                numeric.len()
            )));
        }
        for (i, flag) in numeric.into_iter().zip(flags) {
            unsigned[i] = flag;
        }
    }

    // Character columns. MariaDB lists GEOMETRY columns among them (as binary), MySQL does not.
    let mut collation: Vec<Option<u16>> = vec![None; n];
    if let Some(spec) = &charsets {
        let geometry: Vec<usize> = (0..n)
            .filter(|&i| types[i] == ColumnType::MYSQL_TYPE_GEOMETRY)
            .collect();
        let with_geo: Vec<usize> = (0..n)
            .filter(|&i| is_string_type(types[i]) || types[i] == ColumnType::MYSQL_TYPE_GEOMETRY)
            .collect();
        let without_geo: Vec<usize> = (0..n).filter(|&i| is_string_type(types[i])).collect();
        let mariadb = || {
            let list = spec.resolve(with_geo.len())?;
            let geo_binary = with_geo
                .iter()
                .zip(&list)
                .all(|(i, c)| types[*i] != ColumnType::MYSQL_TYPE_GEOMETRY || *c == 63);
            geo_binary.then_some((&with_geo, list))
        };
        let mysql = || {
            spec.resolve(without_geo.len())
                .map(|list| (&without_geo, list))
        };
        let chosen = if geometry.is_empty() {
            mysql()
        } else if has_visibility {
            mysql().or_else(mariadb)
        } else {
            mariadb().or_else(mysql)
        };
        let Some((cols, list)) = chosen else {
            return Err(bad(
                "the column charsets do not match the character columns".into(),
            ));
        };
        for (&i, c) in cols.iter().zip(list) {
            if types[i] != ColumnType::MYSQL_TYPE_GEOMETRY {
                collation[i] = Some(c);
            }
        }
    }
    let enum_set: Vec<usize> = (0..n).filter(|&i| types[i].is_enum_or_set_type()).collect();
    if let Some(spec) = &enum_set_charsets {
        let Some(list) = spec.resolve(enum_set.len()) else {
            return Err(bad(
                "the ENUM/SET charsets do not match the ENUM/SET columns".into(),
            ));
        };
        for (&i, c) in enum_set.iter().zip(list) {
            collation[i] = Some(c);
        }
    }

    let mut enum_labels = enum_labels.into_iter();
    let mut set_labels = set_labels.into_iter();
    let mut columns = Vec::with_capacity(n);
    for (i, name) in names.into_iter().enumerate() {
        let labels = |raw: Option<Vec<Vec<u8>>>| -> Result<Vec<String>, DecodeError> {
            raw.unwrap_or_default()
                .into_iter()
                .map(|l| match collation[i] {
                    Some(c) => decode_chars(&l, c).map_err(|_| DecodeError::UnsupportedCharset {
                        column: name.clone(),
                        collation: c,
                    }),
                    None => Ok(String::from_utf8_lossy(&l).into_owned()),
                })
                .collect()
        };
        let (enum_values, set_values) = match types[i] {
            ColumnType::MYSQL_TYPE_ENUM => (labels(enum_labels.next())?, Vec::new()),
            ColumnType::MYSQL_TYPE_SET => (Vec::new(), labels(set_labels.next())?),
            _ => (Vec::new(), Vec::new()),
        };
        columns.push(ColumnSchema {
            name,
            column_type: types[i],
            meta: std::mem::take(&mut metas[i]),
            unsigned: unsigned[i],
            collation: collation[i],
            enum_values,
            set_values,
        });
    }

    Ok(TableSchema {
        database,
        table,
        columns,
        primary_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_common::io::ParseBuf;
    use ColumnType::*;

    /// A TABLE_MAP event body: 6-byte table id, names, types, metadata, null bits, then the
    /// optional metadata TLVs (all lengths below 251).
    fn tme(types: &[u8], meta: &[u8], opt: &[(u8, Vec<u8>)]) -> TableMapEvent<'static> {
        let mut b = vec![1, 0, 0, 0, 0, 0, 0, 0];
        for name in ["db", "tbl"] {
            b.push(name.len() as u8);
            b.extend_from_slice(name.as_bytes());
            b.push(0);
        }
        b.push(types.len() as u8);
        b.extend_from_slice(types);
        b.push(meta.len() as u8);
        b.extend_from_slice(meta);
        b.extend(std::iter::repeat_n(0xFF, types.len().div_ceil(8)));
        for (t, v) in opt {
            b.push(*t);
            b.push(v.len() as u8);
            b.extend_from_slice(v);
        }
        let fde = mysql_common::binlog::events::FormatDescriptionEvent::new(
            mysql_common::binlog::consts::BinlogVersion::Version4,
        );
        let ctx = mysql_common::binlog::BinlogCtx::new(b.len() + 19, &fde, 19);
        let event: TableMapEvent<'_> = ParseBuf(&b).parse(ctx).unwrap();
        event.into_owned()
    }

    fn names(list: &[&str]) -> (u8, Vec<u8>) {
        let mut v = Vec::new();
        for n in list {
            v.push(n.len() as u8);
            v.extend_from_slice(n.as_bytes());
        }
        (4, v)
    }

    // id INT, g GEOMETRY, v/w/x/y VARCHAR (w utf8mb4, the others latin1).
    const GEO_TYPES: [u8; 6] = [3, 255, 15, 15, 15, 15];
    const GEO_META: [u8; 9] = [4, 10, 0, 40, 0, 4, 0, 3, 0];

    fn collations(schema: &TableSchema) -> Vec<Option<u16>> {
        schema.columns.iter().map(|c| c.collation).collect()
    }

    #[test]
    fn schema_mariadb_counts_geometry_among_character_columns() {
        let cols = names(&["id", "g", "v", "w", "x", "y"]);
        // Captured from MariaDB 10.11: DEFAULT_CHARSET latin1, column 0 (g) binary, 2 (w) utf8mb4.
        let event = tme(
            &GEO_TYPES,
            &GEO_META,
            &[
                (1, vec![0]),
                (2, vec![8, 0, 63, 2, 45]),
                (7, vec![0]),
                cols.clone(),
                (8, vec![0]),
            ],
        );
        let schema = table_schema(&event).unwrap();
        assert_eq!(
            (schema.database.as_str(), schema.table.as_str()),
            ("db", "tbl")
        );
        assert_eq!(
            schema
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["id", "g", "v", "w", "x", "y"]
        );
        assert_eq!(
            collations(&schema),
            [None, None, Some(8), Some(45), Some(8), Some(8)]
        );
        assert_eq!(schema.columns[1].column_type, MYSQL_TYPE_GEOMETRY);
        assert_eq!(schema.columns[3].meta, vec![40, 0]);
        assert_eq!(schema.primary_key, vec![0]);
        // The same with COLUMN_CHARSET: one entry per character column, geometry included.
        let event = tme(
            &GEO_TYPES,
            &GEO_META,
            &[(3, vec![63, 8, 45, 8, 8]), cols.clone()],
        );
        let schema = table_schema(&event).unwrap();
        assert_eq!(
            collations(&schema),
            [None, None, Some(8), Some(45), Some(8), Some(8)]
        );
        // MySQL leaves geometry out: DEFAULT_CHARSET latin1 with column 1 (w) utf8mb4 ...
        let event = tme(&GEO_TYPES, &GEO_META, &[(2, vec![8, 1, 45]), cols.clone()]);
        let schema = table_schema(&event).unwrap();
        assert_eq!(
            collations(&schema),
            [None, None, Some(8), Some(45), Some(8), Some(8)]
        );
        // ... or four COLUMN_CHARSET entries.
        let event = tme(
            &GEO_TYPES,
            &GEO_META,
            &[(3, vec![8, 45, 8, 8]), cols.clone()],
        );
        let schema = table_schema(&event).unwrap();
        assert_eq!(
            collations(&schema),
            [None, None, Some(8), Some(45), Some(8), Some(8)]
        );
        let event = tme(&GEO_TYPES, &GEO_META, &[(3, vec![8, 45, 8]), cols]);
        assert!(matches!(
            table_schema(&event),
            Err(DecodeError::BadTableMap { .. })
        ));
    }

    #[test]
    fn schema_without_names_is_an_error() {
        let event = tme(
            &GEO_TYPES,
            &GEO_META,
            &[(1, vec![0]), (2, vec![8, 0, 63, 2, 45])],
        );
        match table_schema(&event) {
            Err(e @ DecodeError::MissingColumnNames { .. }) => {
                assert!(e.to_string().contains("db.tbl"), "{e}");
                assert!(e.to_string().contains("binlog_row_metadata"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn schema_signedness_enum_set_and_prefix_key() {
        // y YEAR, d DECIMAL(5,2), u INT UNSIGNED, e ENUM latin1, s SET, c CHAR(4) latin1,
        // b TINYINT UNSIGNED.
        let types = [13, 246, 3, 254, 254, 254, 1];
        let meta = [5, 2, 0xF7, 1, 0xF8, 1, 0xFE, 4];
        let event = tme(
            &types,
            &meta,
            &[
                // numeric columns: y d u b -> 1 0 1 1
                (1, vec![0b1011_0000]),
                (2, vec![8]),
                names(&["y", "d", "u", "e", "s", "c", "b"]),
                (5, vec![2, 1, b'p', 2, 0xE9, b'q']),
                (6, vec![3, 1, b'x', 1, 0xE9, 0]),
                (9, vec![5, 2]),
                (10, vec![8, 1, 45]),
            ],
        );
        let schema = table_schema(&event).unwrap();
        let unsigned: Vec<bool> = schema.columns.iter().map(|c| c.unsigned).collect();
        assert_eq!(unsigned, [true, false, true, false, false, false, true]);
        let types: Vec<ColumnType> = schema.columns.iter().map(|c| c.column_type).collect();
        assert_eq!(
            types,
            [
                MYSQL_TYPE_YEAR,
                MYSQL_TYPE_NEWDECIMAL,
                MYSQL_TYPE_LONG,
                MYSQL_TYPE_ENUM,
                MYSQL_TYPE_SET,
                MYSQL_TYPE_STRING,
                MYSQL_TYPE_TINY
            ]
        );
        assert_eq!(
            collations(&schema),
            [None, None, None, Some(8), Some(45), Some(8), None]
        );
        // ENUM labels in latin1 are converted; the SET's are utf8mb4 (é as two bytes is not there).
        assert_eq!(schema.columns[3].enum_values, ["x", "é", ""]);
        assert_eq!(schema.columns[4].set_values, ["p", "?q"]);
        assert_eq!(schema.columns[1].meta, vec![5, 2]);
        assert_eq!(schema.primary_key, vec![5]);
    }

    #[test]
    fn charset_specs() {
        let d = CharsetSpec::Default {
            default: 8,
            non_default: vec![(0, 63), (2, 45)],
        };
        assert_eq!(d.resolve(3), Some(vec![63, 8, 45]));
        assert_eq!(d.resolve(2), None);
        let c = CharsetSpec::PerColumn(vec![63, 46]);
        assert_eq!(c.resolve(2), Some(vec![63, 46]));
        assert_eq!(c.resolve(3), None);
    }
}
