"""Issue 17 item 10: two (here four) first runs at once on an empty MLflow store all succeed.

Without the lock, MLflow's SQLite store creation races ("table experiments already exists",
alembic "duplicate column name"); reproduced 3 times in 3 before the fix.
"""

from __future__ import annotations

import subprocess
import sys
import time

from tests.helpers import REPO

RACE = """
import sys, time
from src.tracking.runs import configure
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
configure(f"sqlite:///{sys.argv[1]}/mlflow.db", sys.argv[3], f"{sys.argv[1]}/artifacts")
"""


def test_concurrent_first_runs_share_one_new_store(tmp_path):
    start_at = str(time.time() + 8)  # imports first, then all at the same instant
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, str(tmp_path), start_at, f"task{i % 2}"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(4)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], "\n".join(o[-1500:] for o in outs)
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    names = sorted(e.name for e in client.search_experiments())
    assert [n for n in names if n.startswith("task")] == ["task0", "task1"]
