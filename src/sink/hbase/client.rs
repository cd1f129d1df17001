//! A blocking Thrift1 connection to HBase (the `hbase-thrift` crate), with socket timeouts so a
//! hung server is an error instead of a stuck writer, and every read the service makes (table
//! names, scans, gets). Writes go through `sink::hbase::mutations`. Writers own one connection
//! each and run on their own threads; async code reaches HBase through `spawn_blocking`.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use hbase_thrift::hbase::{HbaseSyncClient, THbaseSyncClient};
use thrift::protocol::{
    TBinaryInputProtocol, TBinaryOutputProtocol, TCompactInputProtocol, TCompactOutputProtocol,
    TInputProtocol, TOutputProtocol,
};
use thrift::transport::{
    TBufferedReadTransport, TBufferedWriteTransport, TFramedReadTransport, TFramedWriteTransport,
    TIoChannel, TReadTransport, TTcpChannel, TWriteTransport,
};

use crate::config::{HbaseConfig, ThriftProtocol, ThriftTransport};
use crate::error::{Result, SyncError};

/// The generated client, in whichever transport and protocol the server speaks
/// (`hbase.thrift_transport`, `hbase.thrift_protocol`).
pub type GeneratedClient =
    HbaseSyncClient<Box<dyn TInputProtocol + Send>, Box<dyn TOutputProtocol + Send>>;

/// A connection: the generated client (every call goes through it, by `Deref`), and with the
/// binary protocol the socket itself, which `wire` writes whole `mutateRowsTs` calls to in one
/// write (the generated client flushes after every call, so nothing of it is pending then).
pub struct ThriftClient {
    client: GeneratedClient,
    pub(super) raw: Option<RawSocket>,
}

/// The socket of a binary-protocol connection, and a buffer kept between calls.
pub(super) struct RawSocket {
    pub(super) stream: TcpStream,
    /// Frames need a length in front (the framed transport).
    pub(super) framed: bool,
    pub(super) buf: Vec<u8>,
}

impl std::ops::Deref for ThriftClient {
    type Target = GeneratedClient;
    fn deref(&self) -> &GeneratedClient {
        &self.client
    }
}

impl std::ops::DerefMut for ThriftClient {
    fn deref_mut(&mut self) -> &mut GeneratedClient {
        &mut self.client
    }
}

/// Where and how to reach a Thrift1 server.
#[derive(Debug, Clone)]
pub struct ThriftEndpoint {
    /// `host:port`.
    pub addr: String,
    /// Socket read/write timeout of one call.
    pub timeout: Duration,
    pub transport: ThriftTransport,
    pub protocol: ThriftProtocol,
}

impl ThriftEndpoint {
    /// Every configured server, in the configured order.
    pub fn all(hbase: &HbaseConfig) -> Vec<Self> {
        hbase
            .thrift
            .list()
            .into_iter()
            .map(|addr| ThriftEndpoint {
                addr: addr.to_string(),
                timeout: hbase.timeout,
                transport: hbase.thrift_transport,
                protocol: hbase.thrift_protocol,
            })
            .collect()
    }

    /// A server speaking HBase's default buffered binary Thrift.
    pub fn buffered_binary(addr: &str, timeout: Duration) -> Self {
        ThriftEndpoint {
            addr: addr.to_string(),
            timeout,
            transport: ThriftTransport::Buffered,
            protocol: ThriftProtocol::Binary,
        }
    }
}

/// Opens a connection to the first configured Thrift1 server that answers.
pub fn connect(hbase: &HbaseConfig) -> Result<ThriftClient> {
    let mut failed = None;
    for endpoint in ThriftEndpoint::all(hbase) {
        match connect_to(&endpoint) {
            Ok(client) => return Ok(client),
            Err(e) => failed = Some(e),
        }
    }
    Err(failed.expect("the config has at least one Thrift server"))
}

/// Opens a connection to the Thrift1 server `endpoint`.
pub fn connect_to(endpoint: &ThriftEndpoint) -> Result<ThriftClient> {
    let (addr, timeout) = (&endpoint.addr, endpoint.timeout);
    let unreachable = |e: &dyn std::fmt::Display| {
        SyncError::Hbase(format!(
            "HBase Thrift server at {addr} is unreachable: {e}; check [hbase] thrift and that the HBase Thrift1 server runs (scripts/services.sh up hbase)"
        ))
    };
    let sockaddr = addr
        .to_socket_addrs()
        .map_err(|e| unreachable(&e))?
        .next()
        .ok_or_else(|| unreachable(&"no address"))?;
    let stream = TcpStream::connect_timeout(&sockaddr, timeout.min(Duration::from_secs(10)))
        .map_err(|e| unreachable(&e))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| unreachable(&e))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| unreachable(&e))?;
    stream.set_nodelay(true).map_err(|e| unreachable(&e))?;
    let raw = match endpoint.protocol {
        ThriftProtocol::Binary => Some(RawSocket {
            stream: stream.try_clone().map_err(|e| unreachable(&e))?,
            framed: endpoint.transport == ThriftTransport::Framed,
            buf: Vec::new(),
        }),
        ThriftProtocol::Compact => None,
    };
    let (i, o) = TTcpChannel::with_stream(stream)
        .split()
        .map_err(|e| unreachable(&e))?;
    let (read, write): (
        Box<dyn TReadTransport + Send>,
        Box<dyn TWriteTransport + Send>,
    ) = match endpoint.transport {
        ThriftTransport::Buffered => (
            Box::new(TBufferedReadTransport::with_capacity(64 << 10, i)),
            Box::new(TBufferedWriteTransport::with_capacity(1 << 20, o)),
        ),
        ThriftTransport::Framed => (
            Box::new(TFramedReadTransport::with_capacity(64 << 10, i)),
            Box::new(TFramedWriteTransport::with_capacity(1 << 20, o)),
        ),
    };
    let (input, output): (
        Box<dyn TInputProtocol + Send>,
        Box<dyn TOutputProtocol + Send>,
    ) = match endpoint.protocol {
        ThriftProtocol::Binary => (
            Box::new(TBinaryInputProtocol::new(read, true)),
            Box::new(TBinaryOutputProtocol::new(write, true)),
        ),
        ThriftProtocol::Compact => (
            Box::new(TCompactInputProtocol::new(read)),
            Box::new(TCompactOutputProtocol::new(write)),
        ),
    };
    Ok(ThriftClient {
        client: HbaseSyncClient::new(input, output),
        raw,
    })
}

/// Which transport and protocol the server `endpoint` answers in, when it answers in another
/// than the configured one: each other combination is tried with a table listing. `None` when
/// none answers (the server is down, or the problem is elsewhere).
pub fn spoken_combination(endpoint: &ThriftEndpoint) -> Option<(ThriftTransport, ThriftProtocol)> {
    let configured = (endpoint.transport, endpoint.protocol);
    [ThriftTransport::Buffered, ThriftTransport::Framed]
        .into_iter()
        .flat_map(|t| [(t, ThriftProtocol::Binary), (t, ThriftProtocol::Compact)])
        .filter(|c| *c != configured)
        .find(|&(transport, protocol)| {
            let other = ThriftEndpoint {
                transport,
                protocol,
                timeout: endpoint.timeout.min(Duration::from_secs(5)),
                addr: endpoint.addr.clone(),
            };
            connect_to(&other)
                .and_then(|mut c| table_names(&mut c))
                .is_ok()
        })
}

/// Maps a Thrift error to ours, naming HBase.
pub fn hbase_err(what: &str, e: thrift::Error) -> SyncError {
    SyncError::Hbase(format!("HBase/Thrift {what} failed: {e}"))
}

/// Table names, as a liveness probe and for existence checks.
pub fn table_names(client: &mut ThriftClient) -> Result<Vec<String>> {
    let names = client
        .get_table_names()
        .map_err(|e| hbase_err("getTableNames", e))?;
    Ok(names
        .into_iter()
        .map(|n| String::from_utf8_lossy(&n).into_owned())
        .collect())
}

/// One HBase row as read back: key and `(family:qualifier, value)` pairs of the latest versions.
pub type ScannedRow = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

/// Reads up to `limit` rows of `table` from the start (all rows with `None`), calling `each` on
/// every page so callers need not hold the whole table.
pub fn scan_rows(
    client: &mut ThriftClient,
    table: &str,
    limit: Option<usize>,
    each: impl FnMut(ScannedRow),
) -> Result<usize> {
    scan(client, table, limit, each)
}

fn scan(
    client: &mut ThriftClient,
    table: &str,
    limit: Option<usize>,
    mut each: impl FnMut(ScannedRow),
) -> Result<usize> {
    let page = limit.unwrap_or(1000).min(1000) as i32;
    let scan = scan_spec(None, page, false);
    let id = client
        .scanner_open_with_scan(table.as_bytes().to_vec(), scan, Default::default())
        .map_err(|e| hbase_err(&format!("scannerOpen on {table}"), e))?;
    let mut seen = 0usize;
    let result = (|| {
        while limit.is_none_or(|l| seen < l) {
            let rows = client
                .scanner_get_list(id, page)
                .map_err(|e| hbase_err(&format!("scannerGetList on {table}"), e))?;
            if rows.is_empty() {
                break;
            }
            for r in rows {
                if limit.is_some_and(|l| seen >= l) {
                    break;
                }
                let cells = r
                    .columns
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(col, cell)| (col, cell.value.unwrap_or_default()))
                    .collect();
                each((r.row.unwrap_or_default(), cells));
                seen += 1;
            }
        }
        Ok(seen)
    })();
    let _ = client.scanner_close(id);
    result
}

/// The families of `table`.
pub fn families(client: &mut ThriftClient, table: &str) -> Result<Vec<String>> {
    let families = client
        .get_column_descriptors(table.as_bytes().to_vec())
        .map_err(|e| hbase_err(&format!("getColumnDescriptors on {table}"), e))?;
    Ok(families
        .into_keys()
        .map(|name| {
            String::from_utf8_lossy(&name)
                .trim_end_matches(':')
                .to_string()
        })
        .collect())
}

/// The families of `table` with a time to live, and the TTL in seconds (HBase keeps cells
/// forever, `2147483647`, unless told otherwise).
pub fn family_ttls(client: &mut ThriftClient, table: &str) -> Result<Vec<(String, i32)>> {
    let families = client
        .get_column_descriptors(table.as_bytes().to_vec())
        .map_err(|e| hbase_err(&format!("getColumnDescriptors on {table}"), e))?;
    Ok(families
        .into_values()
        .filter_map(|d| {
            let ttl = d.time_to_live.unwrap_or(i32::MAX);
            let name = String::from_utf8_lossy(&d.name.unwrap_or_default())
                .trim_end_matches(':')
                .to_string();
            (ttl < i32::MAX).then_some((name, ttl))
        })
        .collect())
}

/// The newest cell timestamp among the first `rows` rows of `table` (`None` when empty).
pub fn newest_timestamp(
    client: &mut ThriftClient,
    table: &str,
    rows: usize,
) -> Result<Option<i64>> {
    let page = rows.clamp(1, 1000) as i32;
    let id = client
        .scanner_open_with_scan(
            table.as_bytes().to_vec(),
            scan_spec(None, page, false),
            Default::default(),
        )
        .map_err(|e| hbase_err(&format!("scannerOpen on {table}"), e))?;
    let result = client
        .scanner_get_list(id, page)
        .map_err(|e| hbase_err(&format!("scannerGetList on {table}"), e));
    let _ = client.scanner_close(id);
    Ok(result?
        .into_iter()
        .flat_map(|r| r.columns.unwrap_or_default().into_values())
        .filter_map(|cell| cell.timestamp)
        .max())
}

/// One HBase row's cells of one family as read by [`get_rows`]: `(family:qualifier, value,
/// timestamp)`, sorted by column.
pub type VersionedRow = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>, i64)>);

/// Whether `table` exists.
pub fn table_exists(client: &mut ThriftClient, table: &str) -> Result<bool> {
    Ok(table_names(client)?.iter().any(|t| t == table))
}

/// The latest cells of `family` of exactly the rows `keys` (Thrift1 `getRowsWithColumns`); rows
/// that do not exist are left out.
pub fn get_rows(
    client: &mut ThriftClient,
    table: &str,
    family: &str,
    keys: &[Vec<u8>],
) -> Result<Vec<VersionedRow>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client
        .get_rows_with_columns(
            table.as_bytes().to_vec(),
            keys.to_vec(),
            vec![family.as_bytes().to_vec()],
            Default::default(),
        )
        .map_err(|e| hbase_err(&format!("getRowsWithColumns on {table}"), e))?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let cells: Vec<(Vec<u8>, Vec<u8>, i64)> = r
                .columns
                .unwrap_or_default()
                .into_iter()
                .map(|(col, cell)| {
                    (
                        col,
                        cell.value.unwrap_or_default(),
                        cell.timestamp.unwrap_or_default(),
                    )
                })
                .collect();
            (!cells.is_empty()).then(|| (r.row.unwrap_or_default(), cells))
        })
        .collect())
}

/// Up to `limit` row keys of `table` from `start` (inclusive; the table's start with `None`),
/// in HBase's byte order (key-only scan). Page through a table by starting the next call at the
/// last key with a zero byte appended: nothing stays open between pages.
pub fn scan_keys_page(
    client: &mut ThriftClient,
    table: &str,
    start: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<Vec<u8>>> {
    keys_page(client, table, None, start, limit)
}

/// As [`scan_keys_page`], only the rows holding a cell in `family` (a parent's rows, not those
/// holding only its joined tables' cells).
pub fn scan_family_keys_page(
    client: &mut ThriftClient,
    table: &str,
    family: &str,
    start: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<Vec<u8>>> {
    keys_page(client, table, Some(family), start, limit)
}

fn keys_page(
    client: &mut ThriftClient,
    table: &str,
    family: Option<&str>,
    start: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<Vec<u8>>> {
    let limit = limit.clamp(1, 10_000) as i32;
    let scan = hbase_thrift::hbase::TScan {
        columns: family.map(|f| vec![f.as_bytes().to_vec()]),
        ..scan_spec(start, limit, true)
    };
    Ok(scan_page(client, table, scan, limit)?
        .into_iter()
        .filter_map(|r| r.row)
        .collect())
}

/// One row's cell names in a family: its key and every `family:qualifier`, in order.
pub type QualifiedRow = (Vec<u8>, Vec<Vec<u8>>);

/// Up to `limit` rows of `table` from `start` (as [`scan_keys_page`]) that hold cells in
/// `family`, each with the names of those cells (`family:qualifier`; values are left out by
/// a `KeyOnlyFilter`): a joined table's rows, which share HBase rows with their parent and
/// siblings, are found by their cells.
pub fn scan_qualifiers_page(
    client: &mut ThriftClient,
    table: &str,
    family: &str,
    start: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<QualifiedRow>> {
    let limit = limit.clamp(1, 10_000) as i32;
    let scan = hbase_thrift::hbase::TScan {
        columns: Some(vec![family.as_bytes().to_vec()]),
        filter_string: Some(b"KeyOnlyFilter()".to_vec()),
        ..scan_spec(start, limit, true)
    };
    Ok(scan_page(client, table, scan, limit)?
        .into_iter()
        .filter_map(|r| {
            let names = r.columns.unwrap_or_default().into_keys().collect();
            Some((r.row?, names))
        })
        .collect())
}

/// The first `limit` rows of `scan`, the scanner closed.
fn scan_page(
    client: &mut ThriftClient,
    table: &str,
    scan: hbase_thrift::hbase::TScan,
    limit: i32,
) -> Result<Vec<hbase_thrift::hbase::TRowResult>> {
    let id = client
        .scanner_open_with_scan(table.as_bytes().to_vec(), scan, Default::default())
        .map_err(|e| hbase_err(&format!("scannerOpen on {table}"), e))?;
    let result = client
        .scanner_get_list(id, limit)
        .map_err(|e| hbase_err(&format!("scannerGetList on {table}"), e));
    let _ = client.scanner_close(id);
    result
}

/// A scan from `start` (the whole table with `None`), `caching` rows per round trip, of the row
/// keys only or of every latest cell. Every field is set: `TScan`'s `Default` fills in values
/// (timestamp 0, an empty filter) that HBase would apply.
pub(super) fn scan_spec(
    start: Option<&[u8]>,
    caching: i32,
    keys_only: bool,
) -> hbase_thrift::hbase::TScan {
    hbase_thrift::hbase::TScan {
        start_row: start.map(<[u8]>::to_vec),
        stop_row: None,
        timestamp: None,
        columns: None,
        caching: Some(caching),
        filter_string: keys_only.then(|| b"KeyOnlyFilter() AND FirstKeyOnlyFilter()".to_vec()),
        batch_size: None,
        sort_columns: None,
        reversed: None,
        cache_blocks: Some(!keys_only),
    }
}
