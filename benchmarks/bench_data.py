"""`make bench-data`: ingest + features on the full embedded UCI data; wall time and peak memory.

Each measured command runs in its own child process (so its peak RSS is its own, read with
``os.wait4``), ``--repeats`` times. A bare-pandas peer runs in the same session: read both files,
concatenate, sum units per StockCode per day — the floor any ingest pays — so the cost of
validation, One-ID and the feature builders shows as a ratio, not only as seconds.

Writes ``benchmarks/out/bench_data.json`` and the table between the ``bench-data`` markers of
``docs/BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.common import OUT, REPO, write_section

TARGET_S, TARGET_GB = 60.0, 3.0

PEER = """
import pandas as pd
a = pd.read_parquet("data/raw/online_retail_ii_2009_2010.parquet").rename(
    columns={"Invoice": "InvoiceNo", "Price": "UnitPrice", "Customer ID": "CustomerID"})
b = pd.read_parquet("data/raw/online_retail.parquet")
d = pd.concat([a[a.InvoiceDate < "2010-12-01"], b], ignore_index=True)
y = d.groupby(["StockCode", d.InvoiceDate.dt.normalize()])["Quantity"].sum()
print(len(d), len(y))
"""


def measure(cmd: list[str]) -> dict:
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    return {
        "wall_s": wall,
        "peak_rss_gb": usage.ru_maxrss / 1024**2,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-data-"))
    hydra = [f"paths.output={tmp}/processed", f"paths.logs={tmp}/logs"]
    py = sys.executable
    commands = {
        "ingest": [py, "-m", "pipelines.ingest", *hydra],
        "build_features": [py, "-m", "pipelines.build_features", *hydra],
        "ingest + features (one process)": [
            py,
            "-m",
            "pipelines.run",
            "steps=[ingest,build_features]",
            *hydra,
        ],
        "peer: bare pandas read + daily sum": [py, "-c", PEER],
    }
    runs: dict[str, list[dict]] = {name: [] for name in commands}
    for r in range(args.repeats):
        for name, cmd in commands.items():  # interleaved, so machine noise hits every command alike
            m = measure(cmd)
            runs[name].append(m)
            print(
                f"[{r + 1}/{args.repeats}] {name}: {m['wall_s']:.1f} s, peak {m['peak_rss_gb']:.2f} GB",
                flush=True,
            )
    rows = {
        name: {
            "wall_s_median": statistics.median(m["wall_s"] for m in ms),
            "wall_s_min": min(m["wall_s"] for m in ms),
            "wall_s_max": max(m["wall_s"] for m in ms),
            "peak_rss_gb_max": max(m["peak_rss_gb"] for m in ms),
            "cpu_s_median": statistics.median(m["cpu_s"] for m in ms),
        }
        for name, ms in runs.items()
    }
    report = json.loads((tmp / "processed" / "ingest_report.json").read_text())
    peer = rows["peer: bare pandas read + daily sum"]["wall_s_median"]
    total = rows["ingest + features (one process)"]
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "pandas": pd.__version__,
            "date": time.strftime("%Y-%m-%d"),
        },
        "repeats": args.repeats,
        "input_lines": sum(f["rows_in"] for f in report["files"].values()),
        "kept_lines": report["summary"]["lines"],
        "results": rows,
        "ratio_to_peer": total["wall_s_median"] / peer,
        "target": {"wall_s": TARGET_S, "peak_rss_gb": TARGET_GB},
        "target_met": total["wall_s_max"] < TARGET_S and total["peak_rss_gb_max"] < TARGET_GB,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_data.json").write_text(json.dumps(result, indent=2))
    write_section("bench-data", table(result), "## Data layer (`make bench-data`)")
    print(table(result))
    return result


def table(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"Measured {m['date']} on {m['cpus']} CPUs ({m['cpu']}), Python {m['python']}, pandas {m['pandas']}; "
        f"{result['repeats']} runs each, interleaved; each command in its own process (Hydra start-up and imports included).",
        f"Input: {result['input_lines']:,} source lines (both UCI files) -> {result['kept_lines']:,} canonical lines.",
        "",
        "| command | wall median (min–max) s | CPU s | peak RSS GB |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, r in result["results"].items():
        lines.append(
            f"| {name} | {r['wall_s_median']:.1f} ({r['wall_s_min']:.1f}–{r['wall_s_max']:.1f}) "
            f"| {r['cpu_s_median']:.1f} | {r['peak_rss_gb_max']:.2f} |"
        )
    t = result["target"]
    verdict = "met" if result["target_met"] else "MISSED"
    lines += [
        "",
        f"Ingest + features take {result['ratio_to_peer']:.1f}x the bare-pandas peer's time. "
        f"Target (< {t['wall_s']:.0f} s and < {t['peak_rss_gb']:.0f} GB for ingest + features, worst run): **{verdict}**.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
