//! The daemon under measurement: started with a bench config, followed through `/health`,
//! `/metrics` and `/proc` (CPU, RSS), and stopped.

use super::*;

/// CPU time per process group, to show who uses the 2 cores during a phase.
pub(crate) struct CpuMeter {
    pub(crate) started: Instant,
    pub(crate) groups: Vec<(&'static str, Vec<u32>, f64)>,
    pub(crate) machine: f64,
}

impl CpuMeter {
    /// HBase (master/regionserver JVM + Thrift JVM), MariaDB, this bench, and `daemon`.
    pub(crate) fn start(daemon: Option<u32>) -> CpuMeter {
        let find = |marks: &[&str]| -> Vec<u32> {
            let mut pids = Vec::new();
            for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmd = String::from_utf8_lossy(&cmd);
                if marks.iter().any(|m| cmd.contains(m)) {
                    pids.push(pid);
                }
            }
            pids
        };
        let mut groups = vec![
            (
                "hbase",
                find(&["hbase.master.HMaster", "hbase.thrift.ThriftServer"]),
                0.0,
            ),
            ("mariadb", find(&["mariadbd"]), 0.0),
            ("bench", vec![std::process::id()], 0.0),
        ];
        if let Some(pid) = daemon {
            groups.push(("daemon", vec![pid], 0.0));
        }
        for g in &mut groups {
            g.2 = g.1.iter().map(|&p| cpu_secs(p)).sum();
        }
        CpuMeter {
            started: Instant::now(),
            groups,
            machine: machine_busy_secs(),
        }
    }

    /// CPU seconds group `name` used since `start` (0 for an unknown group).
    pub(crate) fn secs(&self, name: &str) -> f64 {
        self.groups
            .iter()
            .filter(|(n, _, _)| *n == name)
            .map(|(_, pids, before)| pids.iter().map(|&p| cpu_secs(p)).sum::<f64>() - before)
            .sum()
    }

    /// Cores used by each group (and the whole machine) since `start`.
    pub(crate) fn cores(&self) -> serde_json::Value {
        let secs = self.started.elapsed().as_secs_f64();
        let mut m = serde_json::Map::new();
        for (name, pids, before) in &self.groups {
            let now: f64 = pids.iter().map(|&p| cpu_secs(p)).sum();
            m.insert(
                (*name).into(),
                json!(((now - before) / secs * 100.0).round() / 100.0),
            );
        }
        m.insert(
            "machine".into(),
            json!(((machine_busy_secs() - self.machine) / secs * 100.0).round() / 100.0),
        );
        serde_json::Value::Object(m)
    }
}

/// User + system CPU seconds of a process and its threads (clock ticks of 10 ms).
pub(crate) fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command.
    (tick(11) + tick(12)) / 100.0
}

/// Busy CPU seconds of the whole machine (every field of `/proc/stat`'s cpu line but idle and
/// iowait).
pub(crate) fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (v.iter().take(8).sum::<f64>() - idle) / 100.0
}

pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub(crate) struct Bench {
    pub(crate) daemon: PathBuf,
    pub(crate) out: PathBuf,
    pub(crate) reps: usize,
}

impl Bench {
    /// Drops what earlier runs left: the `bench` databases and `bench_*` HBase tables.
    pub(crate) async fn clean(&self) -> Result<()> {
        let mut conn = mysql().await?;
        let variants = THRIFT_VARIANTS.map(|v| format!("bench_state_{}", v.0));
        for db in [
            "bench",
            "bench_state_stream",
            "bench_state_snapshot",
            "bench_state_joined",
            "bench_state_mixed",
            "bench_state_mixed_snapshot",
        ]
        .into_iter()
        .chain(variants.iter().map(String::as_str))
        {
            conn.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
                .await?;
        }
        tokio::task::spawn_blocking(|| -> Result<()> {
            let mut c = thrift()?;
            for t in hbase_client::table_names(&mut c)? {
                if t.starts_with("bench_") {
                    drop_table(&mut c, &t)?;
                }
            }
            Ok(())
        })
        .await?
    }

    pub(crate) fn config(
        &self,
        name: &str,
        tables: &str,
        mode: &str,
        template: &str,
    ) -> Result<PathBuf> {
        self.config_on(
            name,
            name,
            tables,
            mode,
            template,
            &format!("thrift = \"{THRIFT}\""),
        )
    }

    /// [`Bench::config`] with its own `[hbase]` section (`hbase`), written to `<file>.toml`.
    pub(crate) fn config_on(
        &self,
        name: &str,
        file: &str,
        tables: &str,
        mode: &str,
        template: &str,
        hbase: &str,
    ) -> Result<PathBuf> {
        let include: Vec<String> = tables.split(',').map(|t| format!("\"{t}\"")).collect();
        let text = format!(
            r#"# Written by src/bin/bench.rs; pipeline settings are the defaults.
[mysql]
url = "{MYSQL_URL}"
server_id = {SERVER_ID}

[hbase]
{hbase}

[state]
database = "bench_state_{name}"

[capture]
include = [{}]

[snapshot]
mode = "{mode}"
locking_mode = "minimal"

[mapping]
table = "{template}"

[admin]
listen = "{ADMIN}"
"#,
            include.join(", ")
        );
        let path = self.out.join(format!("{file}.toml"));
        std::fs::write(&path, text)?;
        Ok(std::fs::canonicalize(path)?)
    }

    /// A daemon with `snapshot.mode = "initial_only"` copying a table of `rows` rows: from
    /// `/health` 200 (the bootstrap starts then) to its exit after the last chunk.
    pub(crate) fn bootstrap(&self, config: &Path, name: &str, rows: u64) -> Result<Bootstrap> {
        let mut d = self.start(config, name)?;
        let cpu = CpuMeter::start(Some(d.child.id()));
        let streaming_at = d.wait_streaming(Duration::from_secs(60))?;
        let (exited_at, series, peak_rss_mb, cores) =
            d.until_exit(Duration::from_secs(3600), cpu)?;
        // The daemon's CPU from its start to its exit, per row copied.
        let daemon_cores = cores["daemon"].as_f64().unwrap_or(0.0);
        Ok(Bootstrap {
            rows_per_s: (rows as f64 / (exited_at - streaming_at)).round(),
            cpu_us_per_row: (daemon_cores * exited_at / rows as f64 * 1e8).round() / 100.0,
            cores,
            series,
            peak_rss_mb,
        })
    }

    pub(crate) fn start(&self, config: &Path, name: &str) -> Result<Daemon> {
        let log = std::fs::File::create(self.out.join(format!("{name}.log")))?;
        let child = Command::new(&self.daemon)
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting the daemon")?;
        Ok(Daemon {
            child,
            started: Instant::now(),
            name: name.into(),
        })
    }
}

/// What [`Bench::bootstrap`] measured.
pub(crate) struct Bootstrap {
    pub(crate) rows_per_s: f64,
    pub(crate) cpu_us_per_row: f64,
    /// Cores of each process group (`CpuMeter::cores`) from the daemon's start to its exit.
    pub(crate) cores: serde_json::Value,
    pub(crate) series: Vec<Sample>,
    pub(crate) peak_rss_mb: f64,
}

pub(crate) struct Daemon {
    pub(crate) child: Child,
    pub(crate) started: Instant,
    pub(crate) name: String,
}

/// A daemon left running by a failed phase would hold the admin port of the next run.
impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One sample of a daemon's progress.
pub(crate) struct Sample {
    pub(crate) t: f64,
    /// Rows behind the stored checkpoint (stream) or in written chunks (bootstrap).
    pub(crate) rows_done: f64,
    /// Rows routed to the writers (moves inside a transaction, unlike the checkpoint).
    pub(crate) routed: f64,
    pub(crate) rss_mb: f64,
    pub(crate) hwm_mb: f64,
    /// The highest HBase version handed out minus the clock (`mysql2hbase_version_lead_ms`).
    pub(crate) lead_ms: f64,
}

impl Daemon {
    pub(crate) fn metrics(&self) -> Option<String> {
        let mut s = TcpStream::connect(ADMIN).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some(body)
    }

    /// The stored checkpoint's version, once the daemon has stored one since it started.
    pub(crate) fn checkpoint(&self) -> Option<i64> {
        let m = self.metrics()?;
        let get = |name: &str| -> Option<i64> {
            m.lines()
                .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .map(|v| v as i64)
        };
        let (f, p) = (
            get("mysql2hbase_checkpoint_file_index")?,
            get("mysql2hbase_checkpoint_position")?,
        );
        (f > 0).then_some((f << 32) | p)
    }

    /// Rows the router has sent to the writers (`rows_applied_total`, every table).
    pub(crate) fn routed_rows(&self) -> f64 {
        self.metric("mysql2hbase_rows_applied_total")
    }

    /// A metric's value, summed over its labels (0 when the daemon does not answer).
    pub(crate) fn metric(&self, name: &str) -> f64 {
        self.metrics()
            .map(|m| {
                m.lines()
                    .filter(|l| {
                        l.strip_prefix(name)
                            .is_some_and(|rest| rest.starts_with([' ', '{']))
                    })
                    .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
                    .sum()
            })
            .unwrap_or(0.0)
    }

    /// Rows the bootstrap jobs have written (one job in the bench).
    pub(crate) fn bootstrap_rows(&self) -> f64 {
        self.metric("mysql2hbase_bootstrap_rows_done")
    }

    pub(crate) fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kb = |key: &str| -> f64 {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
    }

    pub(crate) fn alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "daemon {} exited with {status}; see bench/out/{}.log",
                self.name,
                self.name
            );
        }
        Ok(())
    }

    pub(crate) fn health_ok(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(ADMIN) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut reply = String::new();
        s.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .is_ok()
            && s.read_to_string(&mut reply).is_ok()
            && reply.split_whitespace().nth(1) == Some("200")
    }

    /// Seconds from the daemon's start until `/health` says it streams.
    pub(crate) fn wait_streaming(&mut self, timeout: Duration) -> Result<f64> {
        loop {
            self.alive()?;
            if self.health_ok() {
                return Ok(self.started.elapsed().as_secs_f64());
            }
            if self.started.elapsed() > timeout {
                bail!("daemon {}: not streaming within {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until a checkpoint is stored (at or past `at` when given).
    pub(crate) fn wait_checkpoint(
        &mut self,
        at: Option<&BinlogPosition>,
        timeout: Duration,
    ) -> Result<()> {
        let want = at.map_or(1, ordinal);
        let t = Instant::now();
        loop {
            self.alive()?;
            if self.checkpoint().is_some_and(|c| c >= want) {
                return Ok(());
            }
            if t.elapsed() > timeout {
                bail!("daemon {}: no checkpoint within {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Samples progress every 100 ms (the checkpoint; with `progress`, in rows) until HBase
    /// has the last 64 rows `0..last` of `table`. Each writer writes its batches in binlog
    /// order, and 64 consecutive rows cover both writers, so then every row is written; this
    /// is exact to 50 ms, unlike the checkpoint, stored once per second. Returns the seconds
    /// from the daemon's start.
    pub(crate) fn follow_until(
        &mut self,
        (table, last): (&str, u64),
        progress: Option<&Progress>,
        timeout: Duration,
    ) -> Result<(f64, Vec<Sample>)> {
        let mut hbase = thrift()?;
        let keys: Vec<Vec<u8>> = (last.saturating_sub(64)..last)
            .map(|i| i.to_string().into_bytes())
            .collect();
        let mut series = Vec::new();
        for tick in 0u64.. {
            std::thread::sleep(Duration::from_millis(50));
            if hbase_client::get_rows(&mut hbase, table, "d", &keys)?.len() == keys.len() {
                return Ok((self.started.elapsed().as_secs_f64(), series));
            }
            if self.started.elapsed() > timeout {
                bail!("daemon {}: not caught up within {timeout:?}", self.name);
            }
            if tick % 2 == 1 {
                continue;
            }
            self.alive()?;
            let cp = self.checkpoint();
            let (rss, hwm) = self.memory();
            let t = self.started.elapsed().as_secs_f64();
            let rows_done = match (progress, cp) {
                (Some(p), Some(cp)) => rows_at(p, cp),
                _ => 0.0,
            };
            series.push(Sample {
                t,
                rows_done,
                routed: self.routed_rows(),
                rss_mb: rss,
                hwm_mb: hwm,
                lead_ms: self.metric("mysql2hbase_version_lead_ms"),
            });
        }
        unreachable!("the loop returns")
    }

    /// For `initial_only`: samples until the daemon exits; returns seconds, samples, peak RSS.
    pub(crate) fn until_exit(
        mut self,
        timeout: Duration,
        cpu: CpuMeter,
    ) -> Result<(f64, Vec<Sample>, f64, serde_json::Value)> {
        let mut series = Vec::new();
        let mut peak = 0.0f64;
        let mut cores = serde_json::Value::Null;
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("daemon {} exited with {status}", self.name);
                }
                return Ok((self.started.elapsed().as_secs_f64(), series, peak, cores));
            }
            // Read while the process exists (its CPU time goes with it).
            cores = cpu.cores();
            let (rss, hwm) = self.memory();
            peak = peak.max(hwm);
            series.push(Sample {
                t: self.started.elapsed().as_secs_f64(),
                rows_done: self.bootstrap_rows(),
                routed: 0.0,
                rss_mb: rss,
                hwm_mb: hwm,
                lead_ms: self.metric("mysql2hbase_version_lead_ms"),
            });
            if self.started.elapsed() > timeout {
                bail!(
                    "daemon {}: bootstrap not done within {timeout:?}",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM and wait; returns the peak RSS (VmHWM) in MB read just before.
    pub(crate) fn stop(mut self) -> Result<(f64,)> {
        let (_, hwm) = self.memory();
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("daemon {} exited with {status}", self.name);
        }
        Ok((hwm,))
    }
}

pub(crate) fn write_series(path: &Path, series: &[Sample]) -> Result<()> {
    let mut f = std::fs::File::create(path)?;
    writeln!(f, "t_s,rows_done,routed,rss_mb,hwm_mb,version_lead_ms")?;
    for s in series {
        writeln!(
            f,
            "{:.3},{:.0},{:.0},{:.1},{:.1},{:.0}",
            s.t, s.rows_done, s.routed, s.rss_mb, s.hwm_mb, s.lead_ms
        )?;
    }
    Ok(())
}

/// Waits until HBase is idle, at most `max`: below 0.2 cores for 3 s in a row. The phases before
/// a latency phase leave HBase flushing and compacting what they wrote, on the same two cores
/// (up to a minute after 1M rows); a latency measured then measures that backlog, not the
/// daemon. Returns the seconds waited.
pub(crate) async fn hbase_settled(max: Duration) -> f64 {
    let start = Instant::now();
    let mut quiet = 0;
    while quiet < 3 && start.elapsed() < max {
        let cpu = CpuMeter::start(None);
        tokio::time::sleep(Duration::from_secs(1)).await;
        quiet = if cpu.secs("hbase") < 0.2 {
            quiet + 1
        } else {
            0
        };
    }
    (start.elapsed().as_secs_f64() * 10.0).round() / 10.0
}
