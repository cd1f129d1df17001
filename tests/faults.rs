//! Fault injection against the real servers: the daemon is `kill -9`ed at random moments, many
//! times, while a mixed workload runs and while bootstraps copy the table; after the last restart
//! HBase must equal MySQL row for row, and `verify` must find no difference. The figures are
//! printed for docs/RELIABILITY.md (`RELIABILITY ...` lines, also in target/tmp/reliability.txt).
//! (HBase and MySQL restarts under load live in tests/outages.rs: they stop shared servers.)

mod common;

use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;

const KILLS: u32 = 12;
const ROWS: u32 = 60_000;

/// xorshift64*: the kill moments are random, but a failing run can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Jobs of the test not finished yet.
async fn open_jobs(env: &TestEnv) -> u64 {
    let mut c = mysql().await;
    c.query_first(format!(
        "SELECT COUNT(*) FROM `{}`.bootstrap_jobs WHERE status IN ('pending', 'running')",
        env.state_db
    ))
    .await
    .unwrap()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_kill9_under_a_mixed_workload_and_during_bootstraps_converges() {
    let env = TestEnv::new("fault_kill9", "")
        .await
        .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial")
        .set("MYSQL2HBASE__SNAPSHOT__LOCKING_MODE", "none")
        .set("MYSQL2HBASE__SNAPSHOT__CHUNK_ROWS", "1000")
        .set("MYSQL2HBASE__PIPELINE__BATCH_ROWS", "300");
    let db = env.db.clone();
    let mut c = create_mixed_table(&env, ROWS).await;

    // Single statements and 5-statement transactions over the whole key range, with binlog
    // rotations, until told to stop.
    let workload = Workload::start(&db, |c, done| {
        Box::pin(async move {
            let in_transaction = done.is_multiple_of(50);
            let n = if in_transaction { 5 } else { 1 };
            if in_transaction {
                c.query_drop("BEGIN").await?;
            }
            for i in done + 1..=done + n {
                mixed_change(c, i, i.wrapping_mul(7919) % (ROWS + 2000) + 1).await;
            }
            if in_transaction {
                c.query_drop("COMMIT").await?;
            }
            if (done + n).is_multiple_of(3000) {
                c.query_drop("FLUSH BINARY LOGS").await?;
            }
            Ok(n)
        })
    });

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("kill moments seeded with {seed}");
    let mut rng = Rng(seed);
    let mut during_bootstrap = 0;
    for kill in 0..KILLS {
        let mut daemon = env.start();
        if kill == 0 {
            // The first kill lands inside the initial bootstrap, after a few chunks.
            wait_mid_bootstrap(&env, &mut daemon, 2).await;
        } else {
            if kill % 4 == 0 {
                env.request_bootstrap_by_sql("t").await;
            }
            tokio::time::sleep(Duration::from_millis(200 + rng.below(2300))).await;
        }
        if open_jobs(&env).await > 0 {
            during_bootstrap += 1;
        }
        assert!(daemon.is_running(), "daemon exited: {}", daemon.log_text());
        daemon.kill9();
    }

    let mut daemon = env.start();
    let state_env = env.clone();
    wait_for(
        "every bootstrap job to complete",
        Duration::from_secs(240),
        || {
            let env = state_env.clone();
            async move { open_jobs(&env).await == 0 }
        },
    )
    .await;
    let mut failed: Vec<String> = c
        .query(format!(
            "SELECT error FROM `{}`.bootstrap_jobs WHERE status = 'failed'",
            env.state_db
        ))
        .await
        .unwrap();
    failed.truncate(3);
    assert!(failed.is_empty(), "failed bootstrap jobs: {failed:?}");
    let changes = workload.stop().await;
    let rows = env
        .assert_converges(&mut c, "t", Duration::from_secs(120))
        .await;
    // Exit 0: verify found no difference.
    cli(&env, &["verify", &format!("{db}.t"), "--json"]).code(0);
    daemon.stop();
    assert!(during_bootstrap >= 1);
    report_figures(&format!(
        "kill -9: {KILLS} kills survived ({during_bootstrap} during a bootstrap), {changes} changes by the workload, {rows} rows compared, 0 differences (seed {seed})"
    ));
}
