"""The console's server side: the login guard on every request (Dash endpoints and exports
answer 401 without a session, pages redirect to the login), login / logout, the 400 for requests
the pages would never send, the health check, and the CSV exports (role-checked here, on the
server, not by hiding buttons)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import quote

import flask
from markupsafe import escape

from src.console.auth import authenticate
from src.console.common import LOGIN_PAGE, STYLE, can, csv_response, user
from src.console.data import ConsoleData
from src.console.pages.planning import filtered_plan
from src.features import columns as C

log = logging.getLogger(__name__)


def register(server: flask.Flask, data: ConsoleData, users: Mapping) -> None:
    """Guard, auth and export routes on the Flask ``server``."""
    open_paths = {"/login", "/healthz"}

    @server.before_request
    def guard():
        path = flask.request.path
        name = flask.session.get("user")
        if name in users:
            flask.g.user = users[name]
            return None
        if path in open_paths:
            return None
        if path.startswith("/_dash") or path.startswith("/export"):
            return flask.Response("login required", 401)
        return flask.redirect("/login?next=" + quote(flask.request.full_path))

    @server.errorhandler(Exception)
    def bad_request(err):
        """A callback request the pages would never send (wrong ids, types, missing fields)
        answers 400, not 500; the traceback goes to the log so a real bug stays visible."""
        from werkzeug.exceptions import HTTPException

        if isinstance(err, HTTPException):
            return err
        log.warning("console: %s %s failed", flask.request.method, flask.request.path,
                    exc_info=err)  # fmt: skip
        return flask.Response("bad request", 400)

    @server.route("/healthz")
    def healthz():
        return {"status": "ok"}

    @server.route("/login", methods=["GET", "POST"])
    def login():
        nxt = flask.request.values.get("next", "/overview")
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/overview"  # no open redirects
        error = ""
        if flask.request.method == "POST":
            user = authenticate(users, flask.request.form.get("username", ""),
                                flask.request.form.get("password", ""))  # fmt: skip
            if user:
                flask.session.clear()
                flask.session["user"] = user.name
                log.info("console login: %s (%s)", user.name, user.role)
                return flask.redirect(nxt)
            log.info("console login refused")
            error = '<p id="login-error" style="color:#c62828">Wrong user or password.</p>'
        page = LOGIN_PAGE.format(style=STYLE, error=error, next=escape(nxt))
        return page, (401 if error else 200)

    @server.route("/logout")
    def logout():
        flask.session.clear()
        return flask.redirect("/login")

    @server.route("/export/plan.csv")
    def export_plan():
        if not can("export_plan"):
            return flask.Response("forbidden: exporting plans needs the planner role", 403)
        q = flask.request.args
        plan = filtered_plan(data, q.getlist("location"), q.getlist("abc"), q.get("orders") == "1")
        log.info("plan export by %s: %d rows", user().name, len(plan))
        return csv_response(plan, "reorder_plan.csv")

    @server.route("/export/audiences/<name>.csv")
    def export_trigger_audience(name: str):
        if not can("export_audience"):
            return flask.Response("forbidden: exporting audiences needs the marketer role", 403)
        aud = data.audiences()
        if aud is None or name not in set(aud["audience"].astype(str)):
            return flask.Response(f"no audience {escape(name)!s}", 404)
        rows = aud[aud["audience"].astype(str) == name]
        log.info("audience export %s by %s: %d customers", name, user().name, len(rows))
        return csv_response(rows, f"{name}.csv")

    @server.route("/export/audience/<stage>.csv")
    def export_audience(stage: str):
        if not can("export_audience"):
            return flask.Response("forbidden: exporting audiences needs the marketer role", 403)
        rfm = data.customers()
        if rfm is None or stage not in set(rfm[C.LIFECYCLE].astype(str)):
            return flask.Response(f"no audience {escape(stage)!s}", 404)
        aud = rfm[rfm[C.LIFECYCLE].astype(str) == stage][
            [C.CUSTOMER_ID, C.LIFECYCLE, C.RECENCY_DAYS, C.FREQUENCY, C.MONETARY]
        ]
        values = data.clv()
        if values is not None:
            aud = aud.merge(values[[C.CUSTOMER_ID, "p_alive", "value_365d", "clv_tier"]],
                            on=C.CUSTOMER_ID, how="left")  # fmt: skip
        recs = data.recommendations()
        if recs is not None:
            top = recs[recs["rank"] <= 5].astype({C.CUSTOMER_ID: str, C.SKU: str})
            items = top.groupby(C.CUSTOMER_ID)[C.SKU].agg(" ".join).rename("recommended_skus")
            aud = aud.merge(items, left_on=C.CUSTOMER_ID, right_index=True, how="left")
        log.info("audience export %s by %s: %d customers", stage, user().name, len(aud))
        return csv_response(aud, f"audience_{stage}.csv")
