"""`python -m src.outputs [paths.root=.] [registered=forecast_sku_D]`: validate every stored
output against its declared schema (what `make check-outputs` runs after `make run`).

Exit 0 when every stored output meets its schema, 1 otherwise (each problem printed)."""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import OmegaConf

from src.outputs.catalogue import check_all


def main(argv: list[str]) -> int:
    conf = Path(__file__).resolve().parents[2] / "conf"
    cfg = OmegaConf.create({"paths": OmegaConf.load(conf / "paths" / "default.yaml")})
    params = {}
    for arg in argv:
        key, _, value = arg.partition("=")
        if key.startswith("paths."):
            OmegaConf.update(cfg, key, value)
        else:
            params[key] = value
    paths = OmegaConf.to_container(cfg, resolve=True)["paths"]
    report = check_all(paths, params)
    bad = {f: p for f, p in report.items() if p}
    for f in sorted(report):
        print(f"{'FAIL' if report[f] else 'ok  '} {f}")
        for problem in report[f]:
            print(f"       {problem}")
    print(f"{len(report) - len(bad)} of {len(report)} stored outputs meet their schema")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
