"""Models: champions and challengers of every registered model, links into the MLflow UI."""

from __future__ import annotations

import logging

from dash import dash_table, html

from src.console.data import ConsoleData

log = logging.getLogger(__name__)


def models_layout(data: ConsoleData) -> html.Div:
    try:
        rows = data.models()
    except Exception as err:  # the registry may be unreachable; say so instead of failing
        log.warning("models page: %s", err)
        return html.Div(f"MLflow registry unavailable: {type(err).__name__}", className="card")
    ui = data.config["console"]["mlflow_ui_url"].rstrip("/")
    cols = ["registered_model", "alias", "version", "model", *data.key_metrics]
    present = [c for c in cols if any(c in r for r in rows)] or cols[:4]
    table = [
        {**{c: (round(r[c], 4) if isinstance(r.get(c), float) else r.get(c)) for c in present},
         "mlflow": f"[open]({ui}/#/experiments/{r['experiment_id']}/runs/{r['run_id']})"}
        for r in rows
    ]  # fmt: skip
    return html.Div(
        [
            html.Div(
                [
                    "Champions and challengers of every registered model. ",
                    html.A("MLflow UI", href=ui, target="_blank"),
                    " (start it with `make ui`).",
                ],
                className="muted",
            ),  # fmt: skip
            dash_table.DataTable(
                id="mo-table",
                data=table,
                columns=[{"name": c, "id": c} for c in present]
                + [{"name": "mlflow", "id": "mlflow", "presentation": "markdown"}],
                style_cell={"textAlign": "left", "fontSize": "13px"},
            ),  # fmt: skip
        ],
        className="card",
    )
