//! HBase names and the stable hash the service derives from them: which HBase table a source
//! table maps to by the `[mapping] table` template, whether HBase accepts a name, and the FNV-1a
//! hash behind salts and partitions.

/// Whether HBase accepts `name` as a table name (`TableName.isLegalFullyQualifiedTableName`).
pub fn is_legal_hbase_table_name(name: &str) -> bool {
    let (namespace, qualifier) = name.split_once(':').unwrap_or(("default", name));
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    !namespace.is_empty()
        && namespace.chars().all(word)
        && !qualifier.is_empty()
        && !qualifier.starts_with(['.', '-'])
        && qualifier.chars().all(|c| word(c) || c == '-' || c == '.')
}

/// `{db}` and `{table}` replaced in the template.
pub fn hbase_table_name(template: &str, db: &str, table: &str) -> String {
    template.replace("{db}", db).replace("{table}", table)
}

/// 32-bit FNV-1a: stable across releases and platforms, unlike std's hasher.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hbase_table_names() {
        for ok in ["shop_orders", "ns:t", "a-b.c_1", "default:x"] {
            assert!(is_legal_hbase_table_name(ok), "{ok}");
        }
        for bad in ["my table", "café", "a$b", ".t", "-t", "", "n-s:t", "a:b:c"] {
            assert!(!is_legal_hbase_table_name(bad), "{bad}");
        }
        assert_eq!(hbase_table_name("{db}_{table}", "shop", "t"), "shop_t");
    }
}
