"""What every room of the console shares: the signed-in user and their permissions, the page
style, the login page, CSV responses."""

from __future__ import annotations

import flask
import pandas as pd

from src.outputs.csv import to_csv

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
.nav{display:flex;gap:18px;align-items:center;background:#1d2330;padding:10px 20px}
.nav a{color:#cfd6e4;text-decoration:none;font-weight:500}.nav a.active{color:#fff;border-bottom:2px solid #4f8cff}
.nav .who{margin-left:auto;color:#9aa4b8;font-size:13px}.page{padding:18px 24px}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:12px}
.tile{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px #0001}
.tile .label{font-size:12px;color:#5b6478}.tile .value{font-size:22px;font-weight:600}
.up{color:#1a7f37}.down{color:#c62828}.flat{color:#5b6478}.controls{display:flex;gap:12px;flex-wrap:wrap;align-items:end;margin-bottom:14px}
.controls>div{min-width:180px}.card{background:#fff;border-radius:8px;padding:12px;margin-top:14px;box-shadow:0 1px 2px #0001}
.btn{background:#4f8cff;color:#fff;border:0;border-radius:6px;padding:7px 14px;cursor:pointer;text-decoration:none;display:inline-block}
.muted{color:#5b6478;font-size:13px}
"""
LOGIN_PAGE = """<!doctype html><html><head><title>retail-brain console · sign in</title>
<style>{style} form{{max-width:320px;margin:12vh auto;background:#fff;padding:24px;border-radius:8px}}
input{{width:100%;padding:8px;margin:6px 0 12px;box-sizing:border-box}}</style></head>
<body><form method="post" action="/login"><h2>retail-brain console</h2>{error}
<input type="hidden" name="next" value="{next}">
<label>User<input name="username" id="username" autocomplete="username"></label>
<label>Password<input name="password" id="password" type="password" autocomplete="current-password"></label>
<button class="btn" id="login" type="submit">Sign in</button></form></body></html>"""


def user():
    return flask.g.get("user")


def can(permission: str) -> bool:
    u = user()
    return bool(u and u.can(permission))


def csv_response(frame: pd.DataFrame, name: str) -> flask.Response:
    return flask.Response(
        to_csv(frame, index=False), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )  # fmt: skip
