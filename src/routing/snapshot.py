"""The routing snapshot: what ``POST /route`` serves from — the network, the shipping tariff,
the SKUs, the stock online orders may take (stores above their walk-in reserve) and the dual
prices of that stock — written by the batch routing (:mod:`src.routing.batch`) as the output
``routing_snapshot`` and carried into the planner bundle."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from src.routing.network import Network, Shipping


@dataclass(frozen=True)
class Snapshot:
    network: Network
    skus: list[str]
    avail: np.ndarray
    duals: np.ndarray


def write_snapshot(folder: Path, network: Network, skus, avail: np.ndarray, duals) -> None:
    """What ``/route`` needs, as files (written by the batch routing)."""
    folder.mkdir(parents=True, exist_ok=True)
    network.nodes.to_parquet(folder / "nodes.parquet", index=False)
    network.zones.to_parquet(folder / "zones.parquet", index=False)
    meta = {"shipping": dataclasses.asdict(network.shipping), "skus": [str(s) for s in skus]}
    (folder / "routing.json").write_text(json.dumps(meta))
    np.save(folder / "avail.npy", avail)
    np.save(folder / "duals.npy", duals if duals is not None else np.zeros_like(avail))


def has_snapshot(folder: str | Path) -> bool:
    """Whether ``folder`` holds a routing snapshot (its metadata file)."""
    return (Path(folder) / "routing.json").is_file()


def read_snapshot(folder: str | Path) -> Snapshot:
    folder = Path(folder)
    meta = json.loads((folder / "routing.json").read_text())
    network = Network(pd.read_parquet(folder / "nodes.parquet"),
                      pd.read_parquet(folder / "zones.parquet"),
                      Shipping(**meta["shipping"]))  # fmt: skip
    return Snapshot(network, list(meta["skus"]), np.load(folder / "avail.npy"),
                    np.load(folder / "duals.npy"))  # fmt: skip
