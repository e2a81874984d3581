"""`make bench-review`: is the paired bootstrap calibrated, and how long does a comparison take?

1. Calibration on synthetic per-series errors (shared difficulty per series + noise, 300 series,
   the challenger shifted by a planted gain): the share of datasets flagged significant at
   level 0.05 — the false-positive rate at gain 0 and the power at growing gains.
2. Wall time of ``pipelines.compare`` for forecast and recsys on the local store (after `make run`).
Writes ``benchmarks/out/review.json`` and the section in ``docs/BENCHMARKS.md``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np

from benchmarks.common import OUT, REPO, write_section
from src.tracking.bootstrap import paired_bootstrap

GAINS = (0.0, 0.01, 0.02, 0.04, 0.06)


def calibration(reps: int = 400, n: int = 300, level: float = 0.05) -> dict:
    out = {}
    for gain in GAINS:
        hits = 0
        for s in range(reps):
            rng = np.random.default_rng(10_000 + s)
            d = rng.gamma(2.0, 0.5, n)
            a = d + rng.normal(0, 0.2, n)
            b = d - gain + rng.normal(0, 0.2, n)
            hits += paired_bootstrap(
                a, b, higher_is_better=False, level=level, n_boot=1000, seed=s
            ).significant
        out[str(gain)] = hits / reps
    return out


def compare_times() -> dict:
    times = {}
    for task in ("forecast", "recsys"):
        t = time.perf_counter()
        r = subprocess.run(
            [sys.executable, "-m", "pipelines.compare", f"task={task}"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        times[task] = round(time.perf_counter() - t, 1) if r.returncode == 0 else None
    return times


def main() -> None:
    t = time.perf_counter()
    cal = calibration()
    cal_s = time.perf_counter() - t
    times = compare_times()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "review.json").write_text(
        json.dumps({"flagged_share": cal, "compare_seconds": times}, indent=2)
    )
    lines = [
        f"Calibration: 400 synthetic datasets per planted gain, 300 series each, 1,000 resamples, "
        f"level 0.05 ({cal_s:.0f} s). Share flagged significant:",
        "",
        "| planted gain (RMSSE) | 0 (false positives) | "
        + " | ".join(g for g in list(cal)[1:])
        + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in list(cal)[1:]) + " |",
        "| flagged | " + " | ".join(f"{v:.3f}" for v in cal.values()) + " |",
        "",
        "`pipelines.compare` wall time on the `make run` store (incl. interpreter start-up): "
        + ", ".join(f"{k} {v} s" for k, v in times.items())
        + ".",
    ]
    write_section("bench-review", "\n".join(lines), "## Model review (`make bench-review`)")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
