"""The dashboard and the monthly department reports in a real browser (Debian's headless Chromium driven by
Selenium), over a small demo warehouse, on DuckDB and on PostgreSQL:

- each page (overview, department with a work order's timeline, live, data quality) and each department's
  report shows the numbers of the reporting layer and of the marts (asserted on the DOM and on the charts' data);
- no console errors; screenshots of every page and report are written to tests/artifacts/ (ignored by git);
- the report of a department and month goes out once per channel, and a rerun sends nothing again.

Skips when Chromium is missing, except under CI=true, where that fails.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from tests.conftest import (
    PROJECT_DIR,
    deployed_instance,
    isolated_pipeline,
    query,
    settings_of_env,
    use_source,
    warehouse_of_env,
)

pytestmark = pytest.mark.heavy  # a whole pipeline per warehouse: scheduled first (conftest.py)

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR") or PROJECT_DIR / "tests" / "artifacts")
SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST, LAST = date(2026, 3, 25), date(2026, 4, 1)
MONTH = date(2026, 3, 1)
ORDERS_PER_DAY = 30


def require_chromium() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing:
        return
    message = f"{', '.join(missing)} missing (apt-get install chromium chromium-driver)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}, and CI=true forbids skipping", pytrace=False)
    pytest.skip(message)


def end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), SHANGHAI).astimezone(UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, warehouse_target: str) -> Iterator[dict]:
    """The demo sources of eight days, run by the jobs (March judged as a month, its reports rendered and sent
    to a webhook), then the live evaluation once."""
    require_chromium()
    from dagster import AssetKey

    from demo.generator import generate_truth, write_sources
    from demo.receiver import WebhookReceiver
    from demo.ticket_api_server import serve_in_background
    from orchestration.definitions import build_defs
    from orchestration.monitoring.evaluate import evaluate
    from orchestration.reporting.snapshot import publish_snapshot
    from orchestration.runner import run_job

    root = tmp_path_factory.mktemp("dashboard")
    with isolated_pipeline(root, warehouse_target), pytest.MonkeyPatch.context() as mp:
        for name in ("oa_workflow", "settlement_files", "ticket_api"):
            use_source(root, name)
        mp.setenv("OA_DB_URL", f"sqlite:///{root / 'sources' / 'oa_workflow.sqlite'}")
        (root / "sources").mkdir()
        write_sources(generate_truth(FIRST, end_of(LAST), ORDERS_PER_DAY, seed=13), root, end_of(LAST), start=FIRST)
        server, url = serve_in_background(root / "sources" / "ticket_events.jsonl")
        receiver = WebhookReceiver().start()
        mp.setenv("TICKET_API_URL", url)
        mp.setenv("BROADBAND_ROBOT_WEBHOOK_URL", receiver.url)
        mp.setenv("REPORTS_URL", "http://dashboard.example/reports")
        try:
            with deployed_instance() as instance:
                defs = build_defs()
                run_job(defs, "reference_job", instance)
                run_job(defs, "daily_job", instance, FIRST.isoformat(), LAST.isoformat())
                run_job(defs, "monthly_job", instance, MONTH.isoformat(), MONTH.isoformat())
                key = AssetKey(["reports", "department_reports"])
                materialisations = instance.fetch_materializations(key, limit=10).records
            # The live view: one evaluation as of the end of the range, as the monitoring job runs it.
            warehouse = warehouse_of_env()
            evaluate(warehouse, settings_of_env(), now=end_of(LAST))
            publish_snapshot(warehouse)
            yield {"root": root, "target": warehouse_target, "receiver": receiver, "materialisations": materialisations,
                   "env": dict(os.environ)}  # fmt: skip
        finally:
            server.shutdown()
            receiver.stop()


@contextmanager
def bi_environment(demo: dict) -> Iterator[dict[str, str]]:
    """The environment the dashboard is started with: on DuckDB as the pipeline's (it opens the read-only
    snapshot), on PostgreSQL as the BI role (`commitments bi-role create`), dropped afterwards."""
    env = dict(demo["env"])
    if demo["target"] != "postgres":
        yield env
        return
    from orchestration.reporting.access import create_bi_role

    warehouse = warehouse_of_env()
    role = f"bi_{warehouse.schema_name}"
    create_bi_role(warehouse, role, "BI_TEST_PASSWORD", {"BI_TEST_PASSWORD": "bi-test-password"})
    try:
        yield env | {"PGUSER": role, "PGPASSWORD": "bi-test-password"}
    finally:
        with warehouse.connect() as conn:
            cur = conn.cursor()
            cur.execute(f"drop owned by {role} cascade")
            cur.execute(f"drop role {role}")


@pytest.fixture(scope="module")
def dashboard_url(demo: dict) -> Iterator[str]:
    """The dashboard on a free port in a thread, reading as a BI tool would: the read-only snapshot on DuckDB,
    the BI role in a read-only session on PostgreSQL."""
    from werkzeug.serving import make_server

    from dashboard.app import create_app
    from dashboard.data import connection_from_env
    from orchestration.reports.queries import Reporting
    from orchestration.settings import Settings

    with bi_environment(demo) as env:
        settings = Settings.load(env)
        conn, schema = connection_from_env(settings, env)
        if demo["target"] == "duckdb":
            assert conn.duckdb_path.endswith("_readonly.duckdb")  # the snapshot, never the warehouse
        else:
            assert conn.pg["user"] == env["PGUSER"] != "postgres"  # type: ignore[index]
        app = create_app(Reporting(conn.query, schema), demo["root"] / "reports")
        server = make_server("127.0.0.1", 0, app.server, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{server.server_port}"
        server.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,2200", "--lang=zh-CN"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def show(browser, url: str, ready: str, shot: str, graphs: int = 0, chart: str = ".js-plotly-plot .main-svg") -> None:
    """Open `url`, wait for the element `ready` and `graphs` drawn charts (`chart`: the dashboard's plotly
    charts by default), save a screenshot, and fail on any console error of the page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(url)
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: d.find_elements(By.ID, ready))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, chart)) >= graphs)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{shot}.png"
    browser.save_screenshot(str(path))
    print(f"screenshot: {path}")
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors


def cells(browser, table_id: str) -> pd.DataFrame:
    """The table's rows as shown: one column per `data-col`, indexed by the row's `data-key`."""
    from selenium.webdriver.common.by import By

    rows = browser.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    records = {}
    for row in rows:
        key = row.get_attribute("data-key") or str(len(records))
        records[key] = {c.get_attribute("data-col"): c.text for c in row.find_elements(By.TAG_NAME, "td")}
    return pd.DataFrame.from_dict(records, orient="index")


def text(browser, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.ID, element_id).text


def marts_rates(level: str, where: str = "true") -> pd.DataFrame:
    return query(
        f"select * from {{s}}.achievement_rates_monthly where grouping_level = '{level}' "
        f"and period_start_date = '{MONTH}' and {where}"
    )


def test_overview_shows_each_process_rate_states_and_flags(demo: dict, dashboard_url: str, browser) -> None:
    from orchestration.reports.labels import STATES, fmt_count, fmt_rate

    show(browser, f"{dashboard_url}/?grain=month&period={MONTH}", "process-rates", f"{demo['target']}-overview", 2)
    shown = cells(browser, "process-rates")
    marts = marts_rates("process").set_index("process_code")
    assert sorted(shown.index) == sorted(marts.index) and len(marts) >= 2
    for process, row in marts.iterrows():
        assert shown.loc[process, "achievement_rate"] == fmt_rate(row.achievement_rate)
        assert shown.loc[process, "total_runs"] == fmt_count(row.total_runs)
        assert shown.loc[process, "evaluated_runs"] == fmt_count(row.evaluated_runs)
    # The stacked bar holds the seven states' counts of the marts, in order.
    traces = browser.execute_script("return document.getElementById('states').querySelector('.js-plotly-plot').data")
    assert len(traces) == len(STATES)
    for trace, state in zip(traces, STATES, strict=True):
        assert sum(trace["x"]) == marts[state].sum(), state
    flagged = marts_rates("process_node", "(raise_commitment or improve_process)")
    shown_flags = cells(browser, "flagged") if len(flagged) else pd.DataFrame()
    assert len(shown_flags) == len(flagged)


def test_language_switch_shows_english(demo: dict, dashboard_url: str, browser) -> None:
    from selenium.webdriver.common.by import By

    show(browser, f"{dashboard_url}/?grain=month&period={MONTH}", "process-rates", f"{demo['target']}-overview-zh")
    assert "服务承诺达成率" in browser.find_element(By.ID, "process-rates").text
    browser.find_element(By.ID, "language-switch").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 20).until(lambda d: "Achievement rate" in d.find_element(By.ID, "page").text)
    assert "lang=en" in browser.current_url
    show(browser, browser.current_url, "process-rates", f"{demo['target']}-overview-en", 2)


def test_department_view_and_work_order_drill_down(demo: dict, dashboard_url: str, browser) -> None:
    from selenium.webdriver.common.by import By

    from orchestration.reports.labels import fmt_count, fmt_rate
    from orchestration.reports.queries import LATE_STATES

    late = query(
        f"select department, count(*) as n from {{s}}.node_run_states_monthly where period_start_date = '{MONTH}' "
        f"and state in {LATE_STATES} group by department order by n desc"
    )
    department = late.department.iloc[0]
    url = f"{dashboard_url}/department?department={quote(department)}&grain=month&period={MONTH}"
    show(browser, url, "node-rates", f"{demo['target']}-department", 2)
    own = marts_rates("department", f"department = '{department}'")
    assert text(browser, "department-rate") == fmt_rate(own.achievement_rate.iloc[0])
    assert text(browser, "late-count") == fmt_count(late.n.iloc[0])
    runs = query(
        f"select distinct process_code, node_code from {{s}}.node_run_states_monthly "
        f"where period_start_date = '{MONTH}' and department = '{department}'"
    )
    shown = cells(browser, "node-rates")
    assert sorted(shown.index) == sorted(runs.process_code + "|" + runs.node_code)
    nodes = marts_rates("process_node").set_index(["process_code", "node_code"])
    for key, row in shown.iterrows():
        assert row.achievement_rate == fmt_rate(nodes.loc[tuple(key.split("|")), "achievement_rate"])
    listed = cells(browser, "late-runs")
    assert len(listed) == min(200, int(late.n.iloc[0]))
    # Drill down: the first (longest) late run's work order, every node of it on its timeline.
    link = browser.find_element(By.CSS_SELECTOR, "#late-runs tbody tr td[data-col=work_order] a")
    work_order = link.text
    link.click()
    show(browser, browser.current_url, "timeline-table", f"{demo['target']}-work-order", 1)
    timeline = cells(browser, "timeline-table")
    expected = query(
        f"select distinct node_run_id from {{s}}.node_run_states_monthly where work_order_id = '{work_order}'"
    )
    assert sorted(timeline.index) == sorted(expected.node_run_id)
    assert (timeline.commitment_version != "").all()


def test_live_view_orders_open_runs_by_time_left(demo: dict, dashboard_url: str, browser) -> None:
    from orchestration.reports.labels import fmt_duration

    show(browser, f"{dashboard_url}/live", "open-runs", f"{demo['target']}-live")
    open_runs = query("select * from {s}_reporting.rpt_open_runs order by seconds_left, node_run_id")
    shown = cells(browser, "open-runs")
    assert len(shown) == min(200, len(open_runs)) and len(open_runs) > 0
    assert list(shown.index) == list(open_runs.node_run_id[: len(shown)])
    assert shown.time_left.iloc[0] == fmt_duration(open_runs.seconds_left.iloc[0], "zh")


def test_data_quality_per_source_and_day(demo: dict, dashboard_url: str, browser) -> None:
    from orchestration.reports.labels import fmt_count

    show(browser, f"{dashboard_url}/quality", "quality-table", f"{demo['target']}-quality", 1)
    summary = query("select * from {s}_landing.quality_summary")
    shown = cells(browser, "quality-table")
    for row in summary.itertuples():
        key = f"{str(row.partition_date)[:10]}|{row.source_system}"
        assert shown.loc[key, "received_rows"] == fmt_count(row.rows_received)
        assert shown.loc[key, "accepted_rows"] == fmt_count(row.rows_accepted)
        assert shown.loc[key, "quarantined_rows"] == fmt_count(row.rows_quarantined)


def test_each_department_report_opens_offline_and_matches_the_marts(demo: dict, browser) -> None:
    from orchestration.reports.labels import STATES, fmt_count, fmt_rate, label
    from orchestration.reports.queries import LATE_STATES

    departments = marts_rates("department", "department <> '(none)'")
    listed = demo["materialisations"][0].asset_materialization.metadata["reports"].value
    month = MONTH.strftime("%Y-%m")
    assert sorted(listed) == sorted(f"{month} {d}" for d in departments.department)
    for row in departments.itertuples():
        path = Path(listed[f"{month} {row.department}"])
        assert path.parent == demo["root"] / "reports" / month
        page = path.read_text(encoding="utf-8")
        # Self-contained: nothing fetched, no script; the three charts are SVG in the page itself.
        assert not any(ref in page for ref in ("<script", " src=", "<link", "@import", "url(http"))
        assert page.count("<svg") == 3 and len(page) < 500_000
        show(browser, path.as_uri(), "node-rates", f"{demo['target']}-report-{row.department}", 3, ".chart > svg")
        # Each chart drawn at a readable size, with its series named: the department's own line, the seven
        # states (in the dashboard's order), and a line for each node of the node table.
        drawn = browser.execute_script(
            "return [...document.querySelectorAll('.chart > svg')].map(svg => ({"
            "height: svg.getBoundingClientRect().height,"
            "series: [...svg.querySelectorAll('.legends .legend text')].map(t => t.textContent)}))"
        )
        assert [c["height"] > 200 for c in drawn] == [True] * 3, drawn
        assert drawn[0]["series"] == [row.department]
        assert drawn[1]["series"] == [label(state) for state in STATES]
        nodes = cells(browser, "node-rates")
        assert len(nodes) and sorted(drawn[2]["series"]) == sorted(nodes.node)
        summary = text(browser, "summary")
        assert fmt_rate(row.achievement_rate) in summary and fmt_count(row.total_runs) in summary
        late = query(
            f"select count(*) as n from {{s}}.node_run_states_monthly where period_start_date = '{MONTH}' "
            f"and department = '{row.department}' and state in {LATE_STATES}"
        )
        assert text(browser, "late-count") == fmt_count(late.n.iloc[0])


def test_reports_rendered_by_several_processes_are_those_one_renders(demo: dict, tmp_path: Path) -> None:
    """A backfill's months rendered in shares by processes of their own (render_months): the same files, byte for
    byte, as one process writes; here the worker renders March, this process February (no data: no report)."""
    from orchestration.reports.queries import Reporting
    from orchestration.reports.render import render_months

    warehouse = warehouse_of_env()
    reporting = Reporting(warehouse.query, warehouse.schema_name)
    months, generated = [date(2026, 2, 1), MONTH], datetime(2026, 4, 2, 8, 0, tzinfo=UTC)
    one = render_months(reporting, months, tmp_path / "one", generated, processes=1)
    several = render_months(reporting, months, tmp_path / "several", generated, processes=2, parallel_from=0)
    departments = set(marts_rates("department").department) - {"(none)", "*"}
    assert one[date(2026, 2, 1)] == {} and sorted(one[MONTH]) == sorted(departments)
    assert {m: sorted(d) for m, d in several.items()} == {m: sorted(d) for m, d in one.items()}
    for department, path in one[MONTH].items():
        assert several[MONTH][department].read_bytes() == path.read_bytes(), department
    assert not list((tmp_path / "several").rglob("*.partial"))


def test_reports_are_sent_once_per_department_month_and_channel(demo: dict) -> None:
    outbox = query("select * from {s}_landing.alert_outbox where level = 'report'")
    departments = set(marts_rates("department", "department <> '(none)'").department)
    # alerts.yaml: every department to operations_log; 装维中心 and 家庭客户部 also to broadband_robot; 网络部 by mail.
    assert set(outbox[outbox.channel == "operations_log"].recipient_department) == departments
    assert not outbox.duplicated(["recipient_department", "channel"]).any()
    from orchestration.reports.publish import publish_reports

    def robot() -> list[str]:
        return [b["text"]["content"] for b in demo["receiver"].received if "月报" in b["text"]["content"]]

    routed = departments & {"装维中心", "家庭客户部"}
    assert routed and len(robot()) == len(routed)
    # The month again (a rerun of monthly_job after a reprocess): rendered again, sent nothing again.
    again = publish_reports(warehouse_of_env(), settings_of_env(), [MONTH], datetime.now(UTC))
    assert again.recorded == 0 and len(again.reports) == len(departments)
    assert len(robot()) == len(routed)
    for department in routed:
        link = f"http://dashboard.example/reports/{MONTH:%Y-%m}/{quote(department + '.html')}"
        assert sum(department in m and link in m for m in robot()) == 1
    logged = outbox[outbox.channel == "operations_log"]
    assert (logged.status == "delivered").all()


def test_route_kinds_choose_what_a_route_carries() -> None:
    """A route of kind `alerts` only never carries a report, nor a `reports` route an alert; unrouted
    departments get the default channels (no warehouse, no browser)."""
    import yaml

    from orchestration.monitoring.config import AlertConfig
    from orchestration.monitoring.outbox import _route

    raw = yaml.safe_load((PROJECT_DIR / "config" / "alerts.yaml").read_text(encoding="utf-8"))
    raw["routes"] = [
        {"department": "装维中心", "channels": ["broadband_robot"], "kinds": ["alerts"]},
        {"department": "网络部", "channels": ["network_mail"], "kinds": ["reports"]},
    ]
    config = AlertConfig.model_validate(raw)
    recipients = pd.DataFrame(
        {"alert_key": ["a", "b"], "recipient_kind": "department", "recipient_department": ["装维中心", "网络部"],
         "recipient_position": "*"}
    )  # fmt: skip
    reports = _route(recipients, config, kind="reports").set_index("recipient_department").channel
    alerts = _route(recipients, config, kind="alerts").set_index("recipient_department").channel
    assert reports.to_dict() == {"装维中心": "operations_log", "网络部": "network_mail"}
    assert alerts.to_dict() == {"装维中心": "broadband_robot", "网络部": "operations_log"}
