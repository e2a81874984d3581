"""Alert delivery: a JSON POST to a webhook and an e-mail over SMTP, each with retries.

Channels are configured in ``conf/monitor`` (``channels.webhook`` / ``channels.email``); secrets
come from the environment only — ``RETAIL_BRAIN_WEBHOOK_TOKEN`` (sent as a Bearer token),
``RETAIL_BRAIN_SMTP_USER`` / ``RETAIL_BRAIN_SMTP_PASSWORD`` — and are never logged. A delivery
that still fails after its retries is recorded as a dead letter with the full payload; the next
run tries the dead letters again (:func:`redeliver`), so an alert is never lost to an outage.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import time
from collections.abc import Mapping
from email.message import EmailMessage

import requests

from src.monitor.store import AlertStore

log = logging.getLogger(__name__)
ENV_WEBHOOK_TOKEN = "RETAIL_BRAIN_WEBHOOK_TOKEN"
ENV_SMTP_USER = "RETAIL_BRAIN_SMTP_USER"
ENV_SMTP_PASSWORD = "RETAIL_BRAIN_SMTP_PASSWORD"
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def payload(alert: Mapping, console_url: str | None = None) -> dict:
    items = alert.get("items")
    if isinstance(items, str):
        items = json.loads(items)
    out = {
        "id": alert.get("id"),
        "rule": alert["rule"],
        "severity": alert["severity"],
        "area": alert["area"],
        "kpi": alert["kpi"],
        "slice": {"grain": alert["grain"], "dimension": alert["dimension"],
                  "member": alert["member"]},
        "period": str(alert["period"]) if alert.get("period") is not None else None,
        "evidence": {k: alert.get(k) for k in ("value", "expected", "lo", "hi")},
        "message": alert["message"],
        "action": alert["action"],
        "items": list(items or []),
        "link": (console_url.rstrip("/") + alert["link"]) if console_url else alert["link"],
    }  # fmt: skip
    return out


def send_webhook(body: dict, cfg: Mapping) -> None:
    headers = {"Content-Type": "application/json"}
    token = os.environ.get(ENV_WEBHOOK_TOKEN)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    r = requests.post(
        cfg["url"], data=json.dumps(body, default=str), headers=headers,
        timeout=float(cfg.get("timeout_s", 5)),
    )  # fmt: skip
    if r.status_code >= 300:
        raise RuntimeError(f"webhook answered HTTP {r.status_code}")


def send_email(body: dict, cfg: Mapping) -> None:
    msg = EmailMessage()
    msg["Subject"] = f"[retail-brain {body['severity']}] {body['message']}"[:200]
    msg["From"] = cfg["sender"]
    to = cfg["to"]
    msg["To"] = ", ".join(to) if isinstance(to, list | tuple) else str(to)  # "a@x, b@y" too
    lines = [
        body["message"],
        "",
        f"KPI: {body['kpi']} ({body['slice']['dimension']} = {body['slice']['member']}, "
        f"{body['slice']['grain']} {body['period']})",
        "Evidence: " + ", ".join(f"{k} {v:,.4g}" for k, v in body["evidence"].items()
                                 if v is not None),
        f"Action: {body['action']}",
    ]  # fmt: skip
    if body["items"]:
        lines += ["", "Items:", *[f"  - {i}" for i in body["items"][:50]]]
    lines += ["", f"Open: {body['link']}"]
    msg.set_content("\n".join(lines))
    timeout = float(cfg.get("timeout_s", 10))
    with smtplib.SMTP(cfg["host"], int(cfg["port"]), timeout=timeout) as smtp:
        if cfg.get("starttls"):
            smtp.starttls()
        user = os.environ.get(ENV_SMTP_USER)
        if user:
            smtp.login(user, os.environ.get(ENV_SMTP_PASSWORD, ""))
        smtp.send_message(msg)


SENDERS = {"webhook": send_webhook, "email": send_email}


def _attempt(channel: str, body: dict, cfg: Mapping) -> tuple[bool, int, str | None]:
    retries = int(cfg.get("retries", 3))
    backoff = float(cfg.get("backoff_s", 0.5))
    error = None
    for attempt in range(1, retries + 2):
        try:
            SENDERS[channel](body, cfg)
            return True, attempt, None
        except Exception as err:  # any transport failure counts; the class and text are kept
            error = f"{type(err).__name__}: {err}"
            log.warning("alert %s via %s: attempt %d failed (%s)", body["id"], channel,
                        attempt, error)  # fmt: skip
            if attempt <= retries:
                time.sleep(backoff * 2 ** (attempt - 1))
    return False, retries + 1, error


def enabled_channels(channels: Mapping) -> dict[str, Mapping]:
    out = {}
    for name, cfg in (channels or {}).items():
        if name not in SENDERS:
            raise ValueError(f"monitor.channels.{name}: unknown channel; known: {sorted(SENDERS)}")
        if cfg and cfg.get("enabled", True) and cfg.get("url" if name == "webhook" else "host"):
            out[name] = cfg
    return out


def deliver(store: AlertStore, alerts: list[dict], channels: Mapping, console_url=None) -> dict:
    """Send every alert at or above each channel's ``min_severity``; record the outcome."""
    counts = {"sent": 0, "dead_letter": 0}
    for name, cfg in enabled_channels(channels).items():
        floor = SEVERITY_RANK[cfg.get("min_severity", "info")]
        for a in alerts:
            if SEVERITY_RANK[a["severity"]] < floor:
                continue
            body = payload(a, console_url)
            ok, attempts, error = _attempt(name, body, cfg)
            status = "sent" if ok else "dead_letter"
            store.record_delivery(a["id"], name, status, attempts, json.dumps(body, default=str),
                                  error)  # fmt: skip
            counts[status] += 1
    return counts


def redeliver(store: AlertStore, channels: Mapping) -> dict:
    """Try the dead letters again (their stored payloads) on the channels still configured."""
    counts = {"sent": 0, "dead_letter": 0}
    enabled = enabled_channels(channels)
    for d in store.deliveries("dead_letter"):
        if d["channel"] not in enabled:
            continue
        body = json.loads(d["payload"])
        ok, attempts, error = _attempt(d["channel"], body, enabled[d["channel"]])
        status = "sent" if ok else "dead_letter"
        store.record_delivery(d["alert_id"], d["channel"], status, attempts, d["payload"], error)
        counts[status] += 1
    return counts
