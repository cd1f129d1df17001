//! Prometheus metrics, served as text on `GET /metrics`. One process-wide registry: every stage
//! records, the admin API renders.

use std::sync::LazyLock;

use crate::model::BinlogPosition;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    /// Row changes written to HBase, by source table and operation (put, delete).
    pub rows_applied: IntCounterVec,
    /// Binlog events read, by event kind.
    pub events: IntCounterVec,
    /// Seconds between the last event's commit timestamp and its processing.
    pub lag_seconds: IntGauge,
    /// Binlog bytes between the stored checkpoint and the router's position.
    pub lag_bytes: IntGauge,
    /// Where the binlog reader is: file index and position.
    pub reader_file_index: IntGauge,
    pub reader_position: IntGauge,
    /// The checkpoint: binlog file index and position.
    pub checkpoint_file_index: IntGauge,
    pub checkpoint_position: IntGauge,
    /// Fill of each stage's queue, in percent (backpressure, as Flink shows it).
    pub queue_fill_percent: IntGaugeVec,
    pub hbase_batch_seconds: Histogram,
    pub hbase_errors: IntCounter,
    pub restarts: IntCounter,
    /// Pipelines torn down because they made no progress (see `telemetry::stall`).
    pub stalls: IntCounter,
    /// Resyncs asked for by statements (DDL, DML logged as a statement, DROP DATABASE, XA), by
    /// table; several statements may share one resync.
    pub statement_resyncs: IntCounterVec,
    pub ddl: IntCounterVec,
    pub rows_resynced: IntCounterVec,
    /// Statements of unknown effect let pass (`capture.unknown_statements = "warn"`).
    pub statements_ignored: IntCounter,
    /// Rows done and total per bootstrap job.
    pub bootstrap_rows_done: IntGaugeVec,
    pub bootstrap_rows_total: IntGaugeVec,
    /// Bytes of the stream's changes the router keeps for a running bootstrap (its change
    /// tracker), per job.
    pub bootstrap_tracked_bytes: IntGaugeVec,
    pub dead_letters: IntCounter,
    /// Rows of captured tables HBase did not get (their row key deleted instead where known),
    /// by table and reason: `cell_too_large`, `undecodable`, `null_row_key`. Counted whether or
    /// not a dead-letter output keeps them.
    pub rows_not_written: IntCounterVec,
    /// Maxwell change events delivered to Kafka.
    pub kafka_events: IntCounter,
    /// Distributed mode: changes the capture role put on the internal topic, and changes the
    /// apply workers wrote to HBase (before collapsing).
    pub captured_changes: IntCounter,
    pub applied_changes: IntCounter,
    /// The last batch's stamp minus the clock when it was handed out, in ms (see
    /// `model::version`): how far versions run ahead of the clock.
    pub version_lead_ms: IntGauge,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new_custom(Some("mysql2hbase".into()), None).expect("valid prefix");
    let m = Metrics {
        rows_applied: IntCounterVec::new(
            Opts::new(
                "rows_applied_total",
                "Row changes routed to HBase, by table and operation",
            ),
            &["table", "op"],
        )
        .expect("valid metric"),
        events: IntCounterVec::new(
            Opts::new("binlog_events_total", "Binlog events read, by kind"),
            &["kind"],
        )
        .expect("valid metric"),
        lag_seconds: IntGauge::new(
            "binlog_lag_seconds",
            "Seconds behind the binlog's last commit",
        )
        .expect("valid metric"),
        lag_bytes: IntGauge::new(
            "checkpoint_lag_bytes",
            "Binlog bytes between the checkpoint and the reader",
        )
        .expect("valid metric"),
        reader_file_index: IntGauge::new("reader_file_index", "Binlog file index of the reader")
            .expect("valid metric"),
        reader_position: IntGauge::new("reader_position", "Binlog position of the reader")
            .expect("valid metric"),
        checkpoint_file_index: IntGauge::new(
            "checkpoint_file_index",
            "Binlog file index of the checkpoint",
        )
        .expect("valid metric"),
        checkpoint_position: IntGauge::new(
            "checkpoint_position",
            "Binlog position of the checkpoint",
        )
        .expect("valid metric"),
        queue_fill_percent: IntGaugeVec::new(
            Opts::new(
                "queue_fill_percent",
                "Fill of each stage's queue (backpressure)",
            ),
            &["stage"],
        )
        .expect("valid metric"),
        hbase_batch_seconds: Histogram::with_opts(
            HistogramOpts::new("hbase_batch_seconds", "Latency of one HBase batch write").buckets(
                vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            ),
        )
        .expect("valid metric"),
        hbase_errors: IntCounter::new("hbase_errors_total", "Failed HBase batch writes")
            .expect("valid metric"),
        restarts: IntCounter::new("restarts_total", "Pipeline restarts").expect("valid metric"),
        statement_resyncs: IntCounterVec::new(
            Opts::new(
                "statement_resyncs_total",
                "Statements that changed a captured table's rows without row events (each resyncs it)",
            ),
            &["table"],
        )
        .expect("valid metric"),
        ddl: IntCounterVec::new(
            Opts::new(
                "ddl_total",
                "DDL statements on captured tables, by what they needed: schema_only (nothing rewritten) or resync",
            ),
            &["table", "effect"],
        )
        .expect("valid metric"),
        rows_resynced: IntCounterVec::new(
            Opts::new(
                "row_events_resynced_total",
                "Row events not decoded because the table's schema at their position is not known (binlog_row_metadata below FULL, DDLs since); a resync recorded before them rewrites the table",
            ),
            &["table"],
        )
        .expect("valid metric"),
        statements_ignored: IntCounter::new(
            "statements_ignored_total",
            "Statements of unknown effect let pass (capture.unknown_statements = warn)",
        )
        .expect("valid metric"),
        stalls: IntCounter::new(
            "stalls_total",
            "Pipelines restarted because changes waited without progress for pipeline.stall_timeout",
        )
        .expect("valid metric"),
        bootstrap_rows_done: IntGaugeVec::new(
            Opts::new("bootstrap_rows_done", "Rows copied by a bootstrap job"),
            &["job", "table", "kind"],
        )
        .expect("valid metric"),
        bootstrap_rows_total: IntGaugeVec::new(
            Opts::new(
                "bootstrap_rows_total",
                "Rows a bootstrap job will copy (estimate)",
            ),
            &["job", "table", "kind"],
        )
        .expect("valid metric"),
        bootstrap_tracked_bytes: IntGaugeVec::new(
            Opts::new(
                "bootstrap_tracked_bytes",
                "Bytes of row keys the stream changed that a running bootstrap must not overwrite",
            ),
            &["job", "table"],
        )
        .expect("valid metric"),
        dead_letters: IntCounter::new(
            "dead_letters_total",
            "Changes written to the dead-letter output",
        )
        .expect("valid metric"),
        rows_not_written: IntCounterVec::new(
            Opts::new(
                "rows_not_written_total",
                "Rows HBase did not get (a cell over hbase.max_cell_bytes, undecodable, NULL in the row key), by table and reason",
            ),
            &["table", "reason"],
        )
        .expect("valid metric"),
        kafka_events: IntCounter::new("kafka_events_total", "Maxwell change events sent to Kafka")
            .expect("valid metric"),
        captured_changes: IntCounter::new(
            "captured_changes_total",
            "Changes put on the internal topic (role capture)",
        )
        .expect("valid metric"),
        applied_changes: IntCounter::new(
            "applied_changes_total",
            "Changes from the internal topic written to HBase (role apply)",
        )
        .expect("valid metric"),
        version_lead_ms: IntGauge::new(
            "version_lead_ms",
            "The last HBase batch's version minus the clock when it was stamped, in milliseconds",
        )
        .expect("valid metric"),
        registry,
    };
    for c in [
        Box::new(m.rows_applied.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(m.events.clone()),
        Box::new(m.lag_seconds.clone()),
        Box::new(m.lag_bytes.clone()),
        Box::new(m.reader_file_index.clone()),
        Box::new(m.reader_position.clone()),
        Box::new(m.checkpoint_file_index.clone()),
        Box::new(m.checkpoint_position.clone()),
        Box::new(m.queue_fill_percent.clone()),
        Box::new(m.hbase_batch_seconds.clone()),
        Box::new(m.hbase_errors.clone()),
        Box::new(m.restarts.clone()),
        Box::new(m.stalls.clone()),
        Box::new(m.statement_resyncs.clone()),
        Box::new(m.ddl.clone()),
        Box::new(m.rows_resynced.clone()),
        Box::new(m.statements_ignored.clone()),
        Box::new(m.bootstrap_rows_done.clone()),
        Box::new(m.bootstrap_rows_total.clone()),
        Box::new(m.bootstrap_tracked_bytes.clone()),
        Box::new(m.dead_letters.clone()),
        Box::new(m.rows_not_written.clone()),
        Box::new(m.kafka_events.clone()),
        Box::new(m.captured_changes.clone()),
        Box::new(m.applied_changes.clone()),
        Box::new(m.version_lead_ms.clone()),
    ] {
        m.registry.register(c).expect("unique metric names");
    }
    m
});

impl Metrics {
    /// Records the stored checkpoint, and the lag behind the reader when both are in one file.
    pub fn checkpoint_stored(&self, position: &BinlogPosition) {
        let (index, offset) = (position.index() as i64, position.offset() as i64);
        self.checkpoint_file_index.set(index);
        self.checkpoint_position.set(offset);
        if self.reader_file_index.get() == index {
            self.lag_bytes
                .set((self.reader_position.get() - offset).max(0));
        }
    }

    /// Records where the binlog reader is.
    pub fn reader_at(&self, position: &BinlogPosition) {
        self.reader_file_index.set(position.index() as i64);
        self.reader_position.set(position.offset() as i64);
    }
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&METRICS.registry.gather(), &mut out)
        .expect("text encoding cannot fail");
    String::from_utf8(out).expect("Prometheus text is UTF-8")
}
