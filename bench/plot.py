"""Plots a bench run (scripts/bench.sh): throughput and lag over time. Usage: plot.py OUT_DIR"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

out = sys.argv[1]


def read(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in rows[0]} if rows else None


def rate(t, done):
    """Rows/s between consecutive samples, smoothed over ~1 s."""
    xs, ys = [], []
    step = 10
    for i in range(step, len(t), step):
        dt = t[i] - t[i - step]
        if dt > 0:
            xs.append(t[i])
            ys.append((done[i] - done[i - step]) / dt)
    return xs, ys


summary = {}
if os.path.exists(os.path.join(out, "summary.json")):
    import json

    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)

fig, axes = plt.subplots(3, 1, figsize=(10, 11))


def finish(ax, title, ylabel):
    ax.set_title(title)
    ax.set_xlabel("s")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


ax = axes[0]
for name, column, label in [
    ("stream.csv", "rows_done", "stream catch-up (binlog -> HBase, from the checkpoint)"),
    ("snapshot.csv", "rows_done", "bootstrap (written chunks)"),
    # The checkpoint moves only at the commit: this one is routed rows (bounded in flight).
    ("bigtxn.csv", "routed", "one big transaction (routed to writers)"),
]:
    s = read(name)
    if s:
        x, y = rate(s["t_s"], s[column])
        ax.plot(x, y, label=label)
# The SELECT ceiling is far above (see the table); only the HBase ceiling is drawn.
if "hbase_ceiling_rows_per_s" in summary:
    c = summary["hbase_ceiling_rows_per_s"]
    ax.axhline(c, linestyle="--", color="gray", label=f"HBase ceiling ({c:.0f})")
finish(ax, "Throughput (rows/s, 1 s windows) vs seconds since daemon start", "rows/s")

ax = axes[1]
s = read("stream.csv")
if s:
    total = max(s["rows_done"]) if s["rows_done"] else 0
    ax.plot(s["t_s"], [total - d for d in s["rows_done"]], label="stream backlog (rows behind the checkpoint)")
    ax2 = ax.twinx()
    ax2.plot(s["t_s"], s["rss_mb"], color="tab:red", alpha=0.6, label="RSS (MB)")
    ax2.set_ylabel("RSS MB")
    ax2.legend(loc="upper center", fontsize=8)
finish(ax, "Stream catch-up: lag in rows, and memory", "rows behind")

ax = axes[2]
s = read("latency.csv")
if s:
    ax.plot(s["t_s"], s["latency_ms"], ".", markersize=2, label="commit -> visible in HBase")
    for key, style in [("p50_latency_ms", "--"), ("p99_latency_ms", ":")]:
        if key in summary:
            ax.axhline(summary[key], linestyle=style, color="gray", label=f"{key} = {summary[key]}")
finish(ax, "Lag at a steady 2,000 rows/s (one sample per transaction)", "ms")

fig.tight_layout()
fig.savefig(os.path.join(out, "bench.png"), dpi=90)
