"""Build every feature table from the canonical tables and write them to one folder.

Outputs (Parquet): ``panel_<level>_<freq>.parquet`` with ``static_<level>_<freq>.parquet`` for each
configured panel, ``interactions.parquet`` and ``rfm.parquet``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from src.features import columns as C
from src.features.interactions import interactions
from src.features.lifecycle import rfm
from src.features.panel import PanelSpec, demand_panel
from src.features.tables import CanonicalTables, write_frames

log = logging.getLogger(__name__)


def build_features(
    tables: CanonicalTables,
    panels: Sequence[PanelSpec],
    interaction_options: Mapping | None = None,
    rfm_options: Mapping | None = None,
) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    for i, spec in enumerate(panels, 1):
        t = time.perf_counter()
        panel, static = demand_panel(tables.transactions, tables.products, spec)
        out[f"panel_{spec.name}"] = panel
        out[f"static_{spec.name}"] = static
        log.info(
            "[panel %d/%d] %s: %d series x %d periods -> %d rows (%.1f s)",
            i,
            len(panels),
            spec.name,
            static[C.UNIQUE_ID].nunique(),
            panel[C.DS].nunique(),
            len(panel),
            time.perf_counter() - t,
        )
    t = time.perf_counter()
    out["interactions"] = interactions(
        tables.transactions, tables.products, **dict(interaction_options or {})
    )
    log.info(
        "[interactions] %d customer x sku pairs (%.1f s)",
        len(out["interactions"]),
        time.perf_counter() - t,
    )
    t = time.perf_counter()
    out["rfm"] = rfm(tables.transactions, tables.products, **dict(rfm_options or {}))
    stages = out["rfm"][C.LIFECYCLE].value_counts().to_dict()
    log.info(
        "[rfm] %d customers, stages %s (%.1f s)", len(out["rfm"]), stages, time.perf_counter() - t
    )
    return out


def write_features(features: Mapping[str, pd.DataFrame], output: str | Path) -> Path:
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    meta = {
        name: {"rows": int(len(df)), "columns": list(df.columns)} for name, df in features.items()
    }
    write_frames(output, features, {"features_manifest.json": json.dumps(meta, indent=2)})
    return output
