"""The shipped Prometheus alert rules and Grafana dashboard: promtool accepts the rules and the
configuration, every expression names only metrics the service exports (read from a running
app's /metrics), every alert has a runbook section in the operations page, and the Grafana
provisioning points at the files compose mounts."""

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.app import RunningApp
from tests.support.bodies import at, incoming
from tests.support.browser import chromium, screenshot_folder
from tests.support.dashboard_preview import render
from tests.support.harness import Harness, send_message
from tests.support.paths import REPO
from tests.support.prometheus import prometheus
from tests.support.served import served
from tests.support.tools import require
from tests.support.waiting import eventually
from tests.support.webhooks import post_click, post_receipt, post_stored

DEPLOY = REPO / "docs" / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "mobivate-hooks.json"
PROVISIONING = DEPLOY / "grafana" / "provisioning"
OPERATIONS = REPO / "docs" / "pages" / "operations.md"

# Metrics Prometheus makes itself rather than the service.
PROMETHEUS_OWN = {"up"}

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS |= {"and", "or", "unless", "bool", "offset", "inf", "nan"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expression: str) -> set[str]:
    """The metric names an expression reads: identifiers that are not functions, keywords,
    label names in {...} or by/without (...), or range durations."""
    text = _STRING.sub('""', expression)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in _NAME.finditer(text):
        following = text[match.end() :].lstrip()
        name = match.group()
        if following.startswith("(") or name.lower() in _KEYWORDS:
            continue
        if text[max(0, match.start() - 1)] == "$":  # a Grafana variable
            continue
        names.add(name)
    return names


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_expressions() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", ())
    ]


def exported(metrics_text: str) -> set[str]:
    """Every series name /metrics can show: each family's name, with a histogram's parts."""
    names = set()
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            if kind == "counter" and not name.endswith("_total"):
                names.add(f"{name}_total")
    return names


def test_promtool_accepts_the_rules_and_the_configuration() -> None:
    promtool = require("promtool", "prometheus")

    async def check(*arguments: str) -> str:
        process = await asyncio.create_subprocess_exec(
            promtool, "check", *arguments,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output = (await process.communicate())[0].decode()
        assert process.returncode == 0, output
        return output

    assert "SUCCESS: 11 rules found" in asyncio.run(check("rules", str(ALERTS)))
    asyncio.run(check("config", str(PROMETHEUS)))


def test_the_expression_parser_finds_metric_names() -> None:
    expression = (
        'max(messages_in_flight) > 0 and (sum(increase(webhook_requests_total{kind="receipt", '
        'outcome=~"stored|x"}[30m])) or vector(0)) == 0 and histogram_quantile(0.95, sum by '
        "(le) (rate(http_request_duration_seconds_bucket[$__rate_interval])))"
    )
    assert metric_names(expression) == {
        "messages_in_flight",
        "webhook_requests_total",
        "http_request_duration_seconds_bucket",
    }


async def test_every_expression_reads_metrics_the_service_exports(running: RunningApp) -> None:
    available = exported((await running.client.get("/metrics")).text) | PROMETHEUS_OWN
    used: dict[str, set[str]] = {}
    for rule in alert_rules():
        used[f"alert {rule['alert']}"] = metric_names(rule["expr"])
    for title, expression in dashboard_expressions():
        used.setdefault(f"panel {title}", set()).update(metric_names(expression))
    for where, names in used.items():
        assert names, where
        assert names <= available, (where, names - available)
    everything = set().union(*used.values())
    for wanted in ("outbox_pending", "spool_entries", "webhook_registration_state"):
        assert wanted in everything


def test_every_alert_has_a_runbook_section() -> None:
    headings = {
        re.sub(r"[^a-z0-9-]", "", line.lstrip("#").strip().lower().replace(" ", "-"))
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in alert_rules():
        assert rule["for"], rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        runbook = rule["annotations"]["runbook"]
        assert runbook == f"operations.md#{rule['alert'].lower()}", rule["alert"]
        assert rule["alert"].lower() in headings, rule["alert"]


def test_the_dashboard_is_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "mobivate-hooks"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    [variable] = dashboard["templating"]["list"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    titles = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        titles.add(panel["title"])
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
    for topic in ("Webhook requests", "Ingest latency", "Delivery funnel", "Opt-out outbox"):
        assert any(title.startswith(topic) for title in titles), topic
    assert any("spool" in title.lower() for title in titles)
    assert any("Mobivate call errors" in title for title in titles)


@pytest.mark.parametrize("service", ["prometheus", "grafana"])
def test_compose_mounts_the_shipped_files(service: str) -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    spec = compose["services"][service]
    assert spec["profiles"] == ["demo"]
    assert ":" in spec["image"].rsplit("/", 1)[-1]  # pinned by tag
    for volume in spec["volumes"]:
        source = volume.split(":")[0]
        assert (REPO / source).exists(), volume
    assert all(port.startswith("127.0.0.1:") for port in spec["ports"])


def test_grafana_provisioning_points_at_the_mounted_dashboards() -> None:
    [source] = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    [provider] = yaml.safe_load((PROVISIONING / "dashboards" / "mobivate-hooks.yml").read_text())[
        "providers"
    ]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    assert mounts["./docs/deploy/grafana/dashboards"] == provider["options"]["path"]
    assert Path(REPO / "docs/deploy/grafana/dashboards" / DASHBOARD.name).exists()


def grafana_to_promql(expression: str) -> str:
    """Grafana's interval variables as a Prometheus query would have them."""
    return expression.replace("$__rate_interval", "1m").replace("$__range", "5m")


async def _traffic(harness: Harness, rounds: int) -> None:
    """A few seconds of a campaign's life, a round a second: a message sent each round, most
    delivered, some expired, clicks, replies and a STOP."""
    for n in range(rounds):
        number = f"+4477009002{n:02}"
        sent = await send_message(harness, number, f"p-{n}")
        await post_receipt(harness.client, sent["mobivate_id"], "ACCEPTED", 2, at(n))
        final = ("EXPIRED", 3) if n % 4 == 3 else ("DELIVERED", 1)
        await post_receipt(harness.client, sent["mobivate_id"], *final, at(n + 0.5))
        if n % 2 == 0:
            await post_click(harness.client, sent["to"], sent["mobivate_id"])
        if n % 3 == 0:
            text = "STOP" if n % 6 == 3 else "Thanks"
            body = incoming(sent["to"], text, in_reply_to=sent["mobivate_id"])
            await post_stored(harness.client, "incoming", body)
        await asyncio.sleep(1)


async def test_prometheus_evaluates_every_expression_on_the_services_samples(
    harness: Harness, tmp_path: Path, screenshots: Path, backend: str
) -> None:
    """Real samples from a few seconds of traffic; then each panel query and each alert rule,
    evaluated by Prometheus, answers without error, and a preview of the dashboard drawn from
    those answers is kept with the screenshots."""
    async with (
        served(harness.running.app) as base,
        prometheus(base.removeprefix("http://"), tmp_path) as server,
    ):
        started = time.time()
        await _traffic(harness, 12)

        async def scraped() -> bool:
            # rate() and increase() need two samples of a series in their range.
            answer = await server.query('count_over_time(up{job="mobivate-hooks"}[1m]) >= 3')
            return bool(answer["data"]["result"])

        await eventually(scraped, within=30, what="three scrapes of the service", interval=0.5)
        answered = set()
        for title, expression in dashboard_expressions():
            answer = await server.query(grafana_to_promql(expression))
            assert answer["status"] == "success", (title, expression, answer)
            if answer["data"]["result"]:
                answered.add(title)
        # Counters the traffic above moved: their panels show data. (Gauges read from the
        # database can go stale on a loaded machine, when a scrape's 2 s snapshot times out.)
        for title in ("Webhook requests by kind and outcome", "Status changes of sent messages"):
            assert title in answered, (title, answered)

        async def evaluated() -> list[dict[str, Any]]:
            groups = (await server.get("/api/v1/rules"))["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            return (
                rules
                if all(rule.get("lastEvaluation", "").startswith("2") for rule in rules)
                else []
            )

        rules = await eventually(evaluated, within=30, what="the rules evaluated", interval=0.5)
        assert len(rules) == len(alert_rules())
        for rule in rules:
            assert rule["health"] == "ok", rule
        dashboard = json.loads(DASHBOARD.read_text())
        page_html = await render(dashboard, server, started, time.time())
    async with chromium([], screenshot_folder(screenshots, backend)) as browser:
        page = await browser.new_page(width=1600, height=900)
        await page.set_content(page_html)
        await browser.screenshot(page, "grafana-dashboard-preview")
        assert browser.blocked == []
