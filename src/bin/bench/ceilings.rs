//! The raw ceilings the daemon is measured against, each measured in the same run: the bare
//! binlog stream, a bare `SELECT *`, batched `mutateRowsTs` to HBase, and the commit-to-visible
//! latency.

use super::*;

/// A bare mysql_async binlog stream P0..P1. Returns rows, seconds with every rows event parsed
/// into mysql_common rows, and seconds of a second pass that only reads the events.
pub(crate) async fn raw_binlog(
    from: &BinlogPosition,
    to: &BinlogPosition,
) -> Result<(u64, f64, f64)> {
    let end = ordinal(to);
    let mut results = Vec::new();
    for parse_rows in [true, false] {
        let conn = mysql().await?;
        let t = Instant::now();
        let mut stream = conn
            .get_binlog_stream(
                BinlogStreamRequest::new(SERVER_ID + 1)
                    .with_filename(from.file().as_bytes())
                    .with_pos(from.offset()),
            )
            .await?;
        let mut file = from.clone();
        let mut tables: std::collections::HashMap<u64, TableMapEvent<'static>> = Default::default();
        let mut rows = 0u64;
        while let Some(event) = stream.next().await {
            let event = event?;
            let data = event.read_data()?;
            match data {
                Some(EventData::RotateEvent(r)) => {
                    // MariaDB's first (fake) ROTATE carries 4 checksum bytes after the name.
                    let raw = r.name_raw();
                    let current = file.file().as_bytes();
                    if !(raw.starts_with(current) && raw.len() == current.len() + 4) {
                        file = BinlogPosition::new(String::from_utf8_lossy(raw).into_owned(), 4)?;
                    }
                    continue;
                }
                Some(EventData::TableMapEvent(tme)) => {
                    tables.insert(tme.table_id(), tme.into_owned());
                }
                Some(EventData::RowsEvent(re)) if parse_rows => {
                    let tme = &tables[&re.table_id()];
                    // Only the workload's rows (other clients may write meanwhile).
                    if tme.database_name() != "bench" || tme.table_name() != "events" {
                        continue;
                    }
                    for row in re.rows(tme) {
                        row?;
                        rows += 1;
                    }
                }
                _ => {}
            }
            let pos = file.at(event.header().log_pos() as u64);
            if event.header().log_pos() > 0 && ordinal(&pos) >= end {
                break;
            }
        }
        results.push((rows, t.elapsed().as_secs_f64()));
        let _ = stream.close().await;
    }
    Ok((results[0].0, results[0].1, results[1].1))
}

/// A bare streaming `SELECT *` of `bench.events`, every value read.
pub(crate) async fn select_ceiling() -> Result<(u64, f64)> {
    let mut conn = mysql().await?;
    let t = Instant::now();
    let mut result = conn.query_iter("SELECT * FROM bench.events").await?;
    let mut n = 0u64;
    let mut stream = result
        .stream::<mysql_async::Row>()
        .await?
        .context("a result set")?;
    while let Some(row) = stream.next().await {
        let row = row?;
        std::hint::black_box(row.len());
        n += 1;
    }
    Ok((n, t.elapsed().as_secs_f64()))
}

/// (Re)starts the second Thrift server of the local HBase on 9091 with `flags`
/// (`scripts/services.sh up thrift2`), or stops it with `None`.
pub(crate) fn thrift2(flags: Option<&str>) -> Result<()> {
    let run = |action: &str, flags: &str| -> Result<()> {
        let status = Command::new("scripts/services.sh")
            .args([action, "thrift2"])
            .env("THRIFT2_FLAGS", flags)
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(
            status.success(),
            "scripts/services.sh {action} thrift2 failed"
        );
        Ok(())
    };
    run("down", "")?;
    match flags {
        Some(flags) => run("up", flags),
        None => Ok(()),
    }
}

/// The bootstrap's read side alone: the daemon's own chunk readers over `bench.events`, with the
/// bootstrap daemon's snapshot settings (lock, chunk size, and with `snapshot.parallelism` > 1
/// one reader per key range, each on its own connection), one chunk after the other per
/// reader, rows dropped. Returns rows and seconds.
pub(crate) async fn snapshot_read(cfg: &Config) -> Result<(u64, f64)> {
    use mysql2hbase::source::snapshot::{count_rows, ranges, ChunkQuery, SnapshotReader};
    let mut conn = mysql().await?;
    let schema = mysql2hbase::source::schema::load_table_schema(&mut conn, "bench", "events")
        .await?
        .context("bench.events exists")?;
    let key = schema.primary_key.clone();
    let t = Instant::now();
    let estimate = count_rows(&mut conn, "bench", "events", None).await?;
    let snapshot = &cfg.snapshot;
    let split = ranges::split(
        &mut conn,
        &schema,
        &key,
        None,
        snapshot.parallelism,
        estimate,
        snapshot.chunk_rows,
    )
    .await?;
    let mut conns = vec![conn];
    for _ in 1..split.len() {
        conns.push(mysql().await?);
    }
    let (readers, schema, _) = SnapshotReader::open_shared(conns, snapshot, schema).await?;
    let query = ChunkQuery::new(schema, key, None, snapshot.chunk_rows as usize);
    let mut tasks = tokio::task::JoinSet::new();
    for (order, (mut reader, range)) in readers.into_iter().zip(split).enumerate() {
        let query = query.in_range(range.as_ref());
        tasks.spawn(async move {
            let (mut n, mut last) = (0u64, None);
            loop {
                let chunk = reader.read_chunk(&query, last.as_deref()).await?;
                n += chunk.rows.len() as u64;
                std::hint::black_box(&chunk.rows);
                if chunk.last_key.is_some() {
                    last = chunk.last_key;
                }
                if chunk.last {
                    return anyhow::Ok((order, n, reader));
                }
            }
        });
    }
    let (mut n, mut done) = (0, Vec::new());
    while let Some(read) = tasks.join_next().await {
        let (order, rows, reader) = read??;
        n += rows;
        done.push((order, reader));
    }
    // The first reader holds the lock (`extended`): closed last.
    done.sort_by_key(|(order, _)| std::cmp::Reverse(*order));
    for (_, reader) in done {
        reader.close().await?;
    }
    Ok((n, t.elapsed().as_secs_f64()))
}

/// The same cells as the daemon writes for row `i`.
pub(crate) fn batch_mutation(i: u64) -> BatchMutation {
    let mutations = row_values(i)
        .into_iter()
        .zip(COLUMNS)
        .map(|(v, c)| Mutation {
            is_delete: Some(v.is_none()),
            column: Some(format!("d:{c}").into_bytes()),
            value: v.map(String::into_bytes),
            write_to_w_a_l: Some(true),
        })
        .collect();
    BatchMutation {
        row: Some(i.to_string().into_bytes()),
        mutations: Some(mutations),
    }
}

pub(crate) fn thrift() -> Result<ThriftClient> {
    Ok(hbase_client::connect_to(
        &hbase_client::ThriftEndpoint::buffered_binary(THRIFT, Duration::from_secs(60)),
    )?)
}

pub(crate) fn drop_table(client: &mut ThriftClient, table: &str) -> Result<()> {
    if hbase_client::table_exists(client, table)? {
        let name = table.as_bytes().to_vec();
        let _ = client.disable_table(name.clone());
        client
            .delete_table(name)
            .map_err(|e| anyhow::anyhow!("deleteTable {table}: {e}"))?;
    }
    Ok(())
}

/// `rows` rows written by `WRITERS` threads, each its own connection, in batches of
/// `BATCH_ROWS` (rows partitioned like the daemon: one row to one writer). Rows/s.
pub(crate) async fn hbase_ceiling(rows: u64, table: &str) -> Result<f64> {
    let default = hbase_client::ThriftEndpoint::buffered_binary(THRIFT, Duration::from_secs(60));
    hbase_ceiling_on(rows, table, vec![default]).await
}

/// [`hbase_ceiling`] with writer `w` on `servers[w mod n]` (as the daemon spreads its writers).
pub(crate) async fn hbase_ceiling_on(
    rows: u64,
    table: &str,
    servers: Vec<hbase_client::ThriftEndpoint>,
) -> Result<f64> {
    hbase_ceiling_of(rows, table, servers, batch_mutation, &["d"]).await
}

/// The ceiling for other cells: row `i` is `cells(i)`, in a table with `families`.
pub(crate) async fn hbase_ceiling_of(
    rows: u64,
    table: &str,
    servers: Vec<hbase_client::ThriftEndpoint>,
    cells: fn(u64) -> BatchMutation,
    families: &[&str],
) -> Result<f64> {
    let families: Vec<String> = families.iter().map(|f| f.to_string()).collect();
    tokio::task::spawn_blocking({
        let table = table.to_string();
        move || -> Result<f64> {
            let mut c = thrift()?;
            drop_table(&mut c, &table)?;
            mysql2hbase::sink::hbase::mutations::ensure_table_families(
                &mut c, &table, &families, 3,
            )?;
            let t = Instant::now();
            let handles: Vec<_> = (0..WRITERS as u64)
                .map(|w| {
                    let table = table.clone();
                    let server = servers[w as usize % servers.len()].clone();
                    std::thread::spawn(move || -> Result<()> {
                        let mut c = hbase_client::connect_to(&server)?;
                        let mut batch = Vec::with_capacity(BATCH_ROWS);
                        let mut version = 1i64;
                        let mut flush = |batch: &mut Vec<BatchMutation>| -> Result<()> {
                            version += 1;
                            c.mutate_rows_ts(
                                table.as_bytes().to_vec(),
                                std::mem::take(batch),
                                version,
                                Default::default(),
                            )
                            .map_err(|e| anyhow::anyhow!("mutateRowsTs: {e}"))
                        };
                        for i in (w..rows).step_by(WRITERS) {
                            batch.push(cells(i));
                            if batch.len() >= BATCH_ROWS {
                                flush(&mut batch)?;
                            }
                        }
                        if !batch.is_empty() {
                            flush(&mut batch)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in handles {
                h.join().expect("ceiling writer")?;
            }
            let secs = t.elapsed().as_secs_f64();
            drop_table(&mut c, &table)?;
            Ok(rows as f64 / secs)
        }
    })
    .await?
}

/// Inserts `rate` rows/s for `secs` seconds (transactions of `rate / 100` rows every 10 ms, ids
/// from `first`), each transaction's commit time taken when COMMIT returns; a poller reads the
/// transaction's last row with `getRow` until HBase shows it. Returns p50, p99, max in ms.
pub(crate) async fn latency(
    conn: &mut Conn,
    first: u64,
    rate: u64,
    secs: u64,
    csv: &Path,
) -> Result<(f64, f64, f64)> {
    let per_txn = rate / 100;
    let (tx, rx) = std::sync::mpsc::channel::<(u64, Instant)>();
    let start = Instant::now();
    let poller = std::thread::spawn(move || -> Result<Vec<(f64, f64)>> {
        let mut c = thrift()?;
        let mut waiting: VecDeque<(u64, Instant)> = VecDeque::new();
        let mut out = Vec::new();
        let mut open = true;
        while open || !waiting.is_empty() {
            loop {
                match rx.try_recv() {
                    Ok(x) => waiting.push_back(x),
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            let Some(&(key, committed)) = waiting.front() else {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            };
            let found = hbase_client::get_rows(
                &mut c,
                "bench_events",
                "d",
                &[key.to_string().into_bytes()],
            )?;
            if found.is_empty() {
                if committed.elapsed() > Duration::from_secs(120) {
                    bail!("row {key} not in HBase after 120 s");
                }
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            let now = Instant::now();
            out.push((
                (committed - start).as_secs_f64(),
                (now - committed).as_secs_f64() * 1000.0,
            ));
            waiting.pop_front();
        }
        Ok(out)
    });
    let txns = secs * 100;
    let mut next = first;
    for k in 0..txns {
        let due = start + Duration::from_millis(10 * k);
        tokio::time::sleep_until(due.into()).await;
        let values: Vec<String> = (next..next + per_txn).map(sql_row).collect();
        let mut t = conn.start_transaction(Default::default()).await?;
        t.query_drop(format!(
            "INSERT INTO bench.events VALUES {}",
            values.join(",")
        ))
        .await?;
        t.commit().await?;
        next += per_txn;
        tx.send((next - 1, Instant::now()))?;
    }
    let behind = start.elapsed().as_secs_f64() - secs as f64;
    eprintln!("latency load: {txns} transactions of {per_txn} rows; finished {behind:.2}s behind schedule");
    drop(tx);
    let samples = poller.join().expect("poller")?;
    let mut f = std::fs::File::create(csv)?;
    writeln!(f, "t_s,latency_ms")?;
    for (t, l) in &samples {
        writeln!(f, "{t:.3},{l:.2}")?;
    }
    let mut ls: Vec<f64> = samples.iter().map(|s| s.1).collect();
    ls.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| ls[((ls.len() as f64 * p) as usize).min(ls.len() - 1)];
    Ok((
        (pct(0.5) * 10.0).round() / 10.0,
        (pct(0.99) * 10.0).round() / 10.0,
        (pct(1.0) * 10.0).round() / 10.0,
    ))
}
