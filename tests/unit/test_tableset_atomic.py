"""Issue 17 item 8: a replacement of the canonical tables killed half-way is never read as data.

A child process writes a new table set and is SIGKILLed right after the first file moves into
place (the moment the old code left new transactions beside old customers, products and
manifest); readers must refuse the folder, and the next write must clean up and succeed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from src.features.adapters import synthetic
from src.features.ingest import IngestOptions, write_ingest
from src.features.panel import PanelSpec
from src.features.sets import DemandSet
from src.features.store import FeatureSetMissing, FeatureStore
from src.features.tables import IncompleteTables, read_tables
from tests.helpers import REPO

KILL_AFTER_FIRST_MOVE = textwrap.dedent(
    """
    import os, signal, sys
    import src.outputs.files as t
    from src.features.adapters import synthetic
    from src.features.ingest import IngestOptions, write_ingest

    real = os.replace
    moved = []

    def replace(a, b):
        real(a, b)
        moved.append(b)
        if len(moved) == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)

    t.os.replace = replace
    result = synthetic.load(seed=9, n_people=120, n_skus=15, days=60, options=IngestOptions())
    write_ingest(result, sys.argv[1])
    """
)


def kill_during_replace(out, after: int) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_FIRST_MOVE, str(out), str(after)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode


@pytest.mark.parametrize("after", [1, 3])
def test_a_replacement_killed_half_way_is_refused_then_repaired(tmp_path, after):
    out = tmp_path / "tables"
    first = synthetic.load(seed=3, n_people=120, n_skus=15, days=60, options=IngestOptions())
    write_ingest(first, out)
    before = read_tables(out).transactions
    assert kill_during_replace(out, after) == -9  # SIGKILL, mid-replacement
    assert list(out.glob(".incoming-*"))  # what the killed writer left
    with pytest.raises(IncompleteTables, match="cut short"):
        read_tables(out)
    store = FeatureStore(tmp_path / "features", out)
    with pytest.raises(FeatureSetMissing, match="cut short"):
        store.get(DemandSet(PanelSpec()))
    # the next complete write cleans up and is read as one set again
    write_ingest(first, out)
    assert not list(out.glob(".incoming-*")) and not list(out.glob(".staging-*"))
    pd.testing.assert_frame_equal(read_tables(out).transactions, before)
    assert store.get(DemandSet(PanelSpec())).rows("panel") > 0
