"""The console in a real browser: Debian's Chromium driven by Playwright, against the console
served by `python -m pipelines.console` (gunicorn) on a tiny synthetic stack with alerts."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from pipelines import audiences, clv, measure_campaigns, monitor, route_orders
from src.console.auth import entry
from src.monitor.store import AlertStore
from src.serve.process import free_port, wait_ready
from tests.helpers import REPO, compose, train_tiny_stack

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
GRAN = ["granularity.horizon=14", "granularity.backtest_windows=1", "granularity.top_n=25"]
USERS = {"pat": ("planner", "pat-password-1"), "vic": ("viewer", "vic-password-1")}


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} missing: `make test` installs Debian's chromium (Makefile)")
    tmp = tmp_path_factory.mktemp("console")
    paths = train_tiny_stack(
        tmp, "[seasonal_naive]", "[popularity]", GRAN, ["policy.simulation.enabled=false"],
        ["data.anomalies=[{day:-1,days:1,channel:web,factor:0.05}]", "data.days=240"],
    )  # fmt: skip
    assert clv.run(compose("clv", paths))["customers"] > 0
    assert audiences.run(compose("audiences", paths))["rows"] > 0
    measured = measure_campaigns.run(
        compose("measure_campaigns", [*paths, "measure.uplift.min_members=100"])
    )
    assert measured["measured"] > 0
    assert route_orders.run(compose("route_orders", paths))["orders"] > 0  # Planning: routing KPIs
    cfg = compose("monitor", [*paths, *GRAN])
    assert monitor.run(cfg)["alerts_new"] > 0
    port = free_port()
    env = {
        **os.environ,
        "RETAIL_BRAIN_CONSOLE_USERS": ",".join(entry(n, r, p) for n, (r, p) in USERS.items()),
    }
    log = open(tmp / "console.log", "w")  # noqa: SIM115 (closed at teardown)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.console", *paths, *GRAN, f"console.port={port}"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, timeout=120, log=tmp / "console.log", path="/healthz")
    except (RuntimeError, TimeoutError) as err:
        proc.kill()
        pytest.fail(str(err))
    yield {"url": url, "store": AlertStore(cfg.monitor.store_url), "log": tmp / "console.log"}
    proc.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def login(browser, url: str, name: str):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.goto(url + "/planning")
    assert "/login" in page.url  # every page needs a login
    page.fill("#username", name)
    page.fill("#password", USERS[name][1])
    page.click("#login")
    page.wait_for_selector("#pl-table")  # back where we were going
    return page


def test_login_is_required_and_wrong_passwords_are_refused(console, browser):
    assert requests.get(console["url"] + "/export/plan.csv", timeout=5).status_code == 401
    page = browser.new_page()
    page.goto(console["url"] + "/overview")
    page.fill("#username", "pat")
    page.fill("#password", "wrong-password")
    page.click("#login")
    page.wait_for_selector("#login-error")
    page.close()
    assert "wrong-password" not in console["log"].read_text()  # no secrets in logs


def test_planner_opens_every_page_filters_exports_and_acknowledges(console, browser):
    page = login(browser, console["url"], "pat")
    # overview: tiles, then a drill-down by channel re-renders them for one channel
    page.click("#nav-overview")
    page.wait_for_selector("#tile-net_sales .value")
    page.click("#ov-dimension")
    page.get_by_role("option", name="channel", exact=True).click()
    page.wait_for_function(
        "document.querySelector('#ov-member') && "
        "document.querySelector('#ov-member').innerText.trim() !== 'all'"
    )
    page.wait_for_selector("#tile-net_sales .value")
    # planning: the 'only orders' filter narrows the table; the export follows the filter
    page.click("#nav-planning")
    page.wait_for_selector("#pl-table td")
    before = page.inner_text("#pl-count")
    page.get_by_label("only orders").check()
    page.wait_for_function(f"document.querySelector('#pl-count').innerText !== {before!r}")
    assert "orders=1" in page.get_attribute("#pl-export", "href")
    with page.expect_download() as dl:
        page.click("#pl-export")
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text())))
    assert rows and all(float(r["order_qty"]) > 0 for r in rows) and rows[0]["reason"]
    page.wait_for_selector("#pl-fan .main-svg")
    assert "cost per order" in page.inner_text("#pl-routing-kpis")  # routing KPIs
    page.wait_for_selector("#pl-routing-nodes .main-svg")
    # customers and models render
    page.click("#nav-customers")
    page.wait_for_selector("#cu-sizes .main-svg")
    page.wait_for_selector("#cu-sankey .main-svg")  # AIPL flows (the synthetic brand has events)
    assert "awareness" in page.inner_text("#cu-transitions")
    page.wait_for_selector("#cu-clv .main-svg")  # CLV tiers (make run's clv step)
    assert "value_365d" in page.inner_text("#cu-top")
    page.wait_for_selector("#cu-campaign-roi .main-svg")  # campaigns: ROI with intervals
    assert "C01_email_winback" in page.inner_text("#cu-campaigns")
    assert "randomised holdout" in page.inner_text("#cu-campaigns")
    page.wait_for_selector("#cu-qini .main-svg")  # uplift vs response model
    assert "needed for" in page.inner_text("#cu-power")
    page.click("#nav-models")
    page.wait_for_selector("#mo-table td")
    assert "forecast_sku_D" in page.inner_text("#mo-table")
    # alerts: acknowledge the first open alert; the store records who
    page.click("#nav-alerts")
    page.wait_for_selector("#al-table td")
    page.locator("#al-table input[type=checkbox]").first.check()
    page.click("#al-ack")
    page.wait_for_function("document.querySelector('#al-result').innerText.includes('as pat')")
    acked = [a for a in console["store"].alerts() if a["status"] == "acknowledged"]
    assert acked and acked[0]["ack_by"] == "pat" and acked[0]["ack_at"]


def test_a_viewer_cannot_export_or_acknowledge(console, browser):
    page = login(browser, console["url"], "vic")
    assert not page.is_visible("#pl-export")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    r = requests.get(console["url"] + "/export/plan.csv", cookies=cookies, timeout=5)
    assert r.status_code == 403  # the server refuses, not just the page hiding a button
    page.click("#nav-alerts")
    page.wait_for_selector("#al-table td")
    assert page.is_disabled("#al-ack")
    page.click("#nav-customers")
    page.wait_for_selector("#cu-sizes .main-svg")
    assert "needs the marketer" in page.inner_text("#page")
    assert page.is_visible("#cu-audiences")  # a viewer sees the audience sizes, not the lists
    r = requests.get(console["url"] + "/export/audiences/vip.csv", cookies=cookies, timeout=5)
    assert r.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "{}",
        '{"output": "x", "outputs": {}, "inputs": [], "changedPropIds": []}',
        '{"output": "pl-fan.figure", "outputs": {"id": "pl-fan", "property": "figure"},'
        ' "inputs": [{"id": "pl-sku", "property": "value", "value": {"a": 1}}],'
        ' "changedPropIds": ["pl-sku.value"]}',
    ],
)
def test_bad_requests_get_4xx_not_5xx(console, body):
    s = requests.Session()
    r = s.post(console["url"] + "/login", data={"username": "vic", "password": USERS["vic"][1]})
    assert r.ok
    r = s.post(console["url"] + "/_dash-update-component", data=body,
               headers={"Content-Type": "application/json"}, timeout=10)  # fmt: skip
    assert 400 <= r.status_code < 500
    assert s.get(console["url"] + "/export/audience/nobody.csv").status_code == 403
