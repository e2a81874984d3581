"""The alert history: a real database through SQLAlchemy (SQLite by default, any URL by config).

Tables: ``alerts`` (one row per raised alert, with its evidence, action, status and who
acknowledged it when) and ``deliveries`` (one row per channel and alert: sent, or dead-lettered
with the payload and the last error, so nothing is lost when a receiver is down; the next monitor
run tries dead letters again).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

log = logging.getLogger(__name__)

META = sa.MetaData()
ALERTS = sa.Table(
    "alerts",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(400), nullable=False, index=True),  # rule | dimension | member
    sa.Column("rule", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("area", sa.String(30), nullable=False),  # sales | stock | forecast | recommendations
    sa.Column("kpi", sa.String(60), nullable=False),
    sa.Column("grain", sa.String(20), nullable=False),
    sa.Column("dimension", sa.String(30), nullable=False),
    sa.Column("member", sa.String(200), nullable=False),
    sa.Column("period", sa.DateTime, nullable=True),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("expected", sa.Float, nullable=True),
    sa.Column("lo", sa.Float, nullable=True),
    sa.Column("hi", sa.Float, nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("link", sa.String(400), nullable=False),
    sa.Column("items", sa.Text, nullable=False),  # JSON list: the SKUs / customers to act on
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False, default="open"),
    sa.Column("ack_by", sa.String(100), nullable=True),
    sa.Column("ack_at", sa.DateTime, nullable=True),
)
DELIVERIES = sa.Table(
    "deliveries",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id"), nullable=False, index=True),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # sent | dead_letter
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
FIELDS = [c.name for c in ALERTS.columns if c.name not in ("id", "created_at", "status")]


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class AlertStore:
    def __init__(self, url: str):
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.engine = sa.create_engine(url, future=True)
        META.create_all(self.engine)

    # --- alerts -----------------------------------------------------------------------------
    def raise_alerts(
        self, alerts: Sequence[Mapping], cooldown: timedelta, at: datetime | None = None
    ) -> tuple[list[dict], int]:
        """Store the alerts not raised for the same key within ``cooldown``; returns the stored
        ones (with ids) and how many were suppressed as duplicates."""
        at = at or now()
        stored, suppressed = [], 0
        with self.engine.begin() as conn:
            for a in alerts:
                recent = conn.execute(
                    sa.select(ALERTS.c.id).where(
                        ALERTS.c.key == a["key"], ALERTS.c.created_at > at - cooldown
                    )
                ).first()
                if recent is not None:
                    suppressed += 1
                    continue
                row = {f: a.get(f) for f in FIELDS}
                row["items"] = json.dumps(list(a.get("items") or []))
                row.update(created_at=at, status="open")
                new_id = conn.execute(ALERTS.insert().values(**row)).inserted_primary_key[0]
                stored.append({**row, "id": new_id})
        return stored, suppressed

    def alerts(self, status: str | None = None, limit: int = 500) -> list[dict]:
        q = sa.select(ALERTS).order_by(ALERTS.c.created_at.desc(), ALERTS.c.id.desc())
        if status:
            q = q.where(ALERTS.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q.limit(limit))]

    def open_count(self) -> int:
        with self.engine.connect() as conn:
            q = sa.select(sa.func.count()).select_from(ALERTS).where(ALERTS.c.status == "open")
            return int(conn.execute(q).scalar_one())

    def acknowledge(self, alert_id: int, user: str, at: datetime | None = None) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(
                ALERTS.update()
                .where(ALERTS.c.id == int(alert_id), ALERTS.c.status == "open")
                .values(status="acknowledged", ack_by=user, ack_at=at or now())
            )
            return res.rowcount == 1

    # --- deliveries -------------------------------------------------------------------------
    def record_delivery(
        self,
        alert_id: int,
        channel: str,
        status: str,
        attempts: int,
        payload: str,
        error: str | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            existing = conn.execute(
                sa.select(DELIVERIES.c.id, DELIVERIES.c.attempts).where(
                    DELIVERIES.c.alert_id == alert_id, DELIVERIES.c.channel == channel
                )
            ).first()
            values = dict(status=status, error=error, payload=payload, updated_at=now())
            if existing is None:
                conn.execute(
                    DELIVERIES.insert().values(
                        alert_id=alert_id, channel=channel, attempts=attempts, **values
                    )
                )
            else:
                conn.execute(
                    DELIVERIES.update()
                    .where(DELIVERIES.c.id == existing.id)
                    .values(attempts=existing.attempts + attempts, **values)
                )

    def deliveries(self, status: str | None = None) -> list[dict]:
        q = sa.select(DELIVERIES).order_by(DELIVERIES.c.id)
        if status:
            q = q.where(DELIVERIES.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]
