"""The console in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, installed by .ci/run) driven by Selenium against a live gateway that
received its documents through SOAP and relayed one to an upstream that is down.

Screenshots of each step go to ``test-artifacts/console/`` (gitignored).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

import pytest

from gateway.config import Settings, UpstreamSettings
from gateway.edxml.model import Code, Organization
from gateway.edxml.writer import package_bytes
from gateway.exchange import Exchange
from gateway.relay.service import RelayService
from gateway.server import build_app
from gateway.store.base import to_micros
from gateway.store.sql import SqlStore
from tests.fixtures.console import PASSWORDS, RECEIVER, SENDER, seed_agencies, seed_operators
from tests.fixtures.gateways import QuietHandler
from tests.fixtures.packages import build_document

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = ("/usr/bin/chromedriver",)
FAR_AWAY = "000.00.99.H99"
"""A recipient beyond the province: its copy goes to the upstream, which is down."""


def _first(paths: tuple[str, ...]) -> str | None:
    return next((p for p in paths if Path(p).exists()), None) or None


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class LiveGateway:
    """``build_app`` on a real HTTP server thread, with one upstream that refuses connections."""

    def __init__(self, data_dir: Path) -> None:
        self.server: WSGIServer = make_server(
            "127.0.0.1", 0, lambda e, s: [], handler_class=QuietHandler
        )
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.settings = Settings(
            data_dir=data_dir,
            public_url=self.url,
            upstreams=(
                UpstreamSettings(
                    name="national",
                    protocol="vxp",
                    endpoint=f"http://127.0.0.1:{_closed_port()}/vxp",
                    system_id="vxp.tayninh",
                    secret="s3cret",
                    timeout_seconds=2.0,
                ),
            ),
            default_upstream="national",
            relay_max_attempts=1,
        )
        self.admin = Exchange(self.settings)
        seed_agencies(self.admin, dt.datetime.now(dt.UTC))
        assert isinstance(self.admin.store, SqlStore)
        seed_operators(self.admin.store, to_micros(dt.datetime.now(dt.UTC)))
        self.server.set_app(build_app(self.settings))
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def send_soap(self, **header: Any) -> str:
        """SendDocument over SOAP with WS-Security, as an eOffice client sends it."""
        import zeep
        from zeep.transports import Transport
        from zeep.wsse.username import UsernameToken

        secret = self.admin.credentials.current_secret(SENDER)
        client = zeep.Client(
            f"{self.url}/soap/v1?wsdl",
            wsse=UsernameToken(SENDER, secret, use_digest=True),
            transport=Transport(operation_timeout=20),
        )
        pkg = build_document(self.admin.blobs, b"%PDF-1.4 chromium test", **header)
        receipt = client.service.SendDocument(package_bytes(pkg, self.admin.blobs))
        return str(receipt.packageId)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
        self.admin.close()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[LiveGateway]:
    live = LiveGateway(tmp_path / "data")
    yield live
    live.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    chromium, driver = _first(CHROMIUM), _first(DRIVER) or shutil.which("chromedriver")
    if chromium is None or driver is None:
        reason = "Debian's chromium and chromium-driver are not installed (.ci/run installs them)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1366,900", "--lang=vi"):
        options.add_argument(argument)
    session = webdriver.Chrome(service=Service(driver), options=options)
    session.set_page_load_timeout(60)
    yield session
    session.quit()


def _shot(browser: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def _submit(browser: Any, element: Any) -> None:
    """Click, then wait until the next page has replaced this one and finished loading."""
    _after_navigation(browser, element.click)


def _run_and_wait(browser: Any, script: str, *args: Any) -> None:
    _after_navigation(browser, lambda: browser.execute_script(script, *args))


def _after_navigation(browser: Any, action: Callable[[], object]) -> None:
    """Run `action`, then wait until a new document has loaded in place of this one.

    The old document carries a mark set by script; the wait ends when the window's
    document no longer has it and is complete. Asking the old page's elements whether
    they are stale (selenium's `staleness_of`) races with Chromium tearing the page
    down: mid-navigation it answers "Node with given id does not belong to the
    document", an unknown error rather than a stale reference. A query that fails
    while the page swaps is simply asked again.
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.wait import WebDriverWait

    browser.execute_script("document.documentElement.dataset.leaving = 'yes';")
    action()

    def new_page_loaded(driver: Any) -> bool:
        try:
            return bool(driver.execute_script(
                "return document.readyState === 'complete'"
                " && document.documentElement.dataset.leaving !== 'yes';"
            ))
        except WebDriverException:
            return False

    WebDriverWait(browser, 30).until(new_page_loaded)


def _sign_in(browser: Any, url: str, name: str) -> None:
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()
    browser.get(f"{url}/console/")
    assert "/console/sign-in" in browser.current_url
    browser.find_element(By.ID, "name").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(PASSWORDS[name][1])
    _submit(browser, browser.find_element(By.ID, "sign-in"))
    assert browser.find_element(By.CSS_SELECTOR, ".who").text.startswith(name)


def test_an_operator_finds_a_document_follows_it_and_retries_a_dead_letter(
    gateway: LiveGateway, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    local = gateway.send_soap()
    far = gateway.send_soap(
        document_id=f"{SENDER},2024/03/06,31/VPCP-QHQT",
        code=Code("31", "VPCP-QHQT"),
        subject="Về việc phối hợp tổ chức hội nghị quốc tế",
        to=(Organization(organ_id=FAR_AWAY, organ_name="Bộ Ngoại giao"),),
    )
    relay = RelayService(gateway.settings)
    try:
        relay.run_once()  # the upstream is down and one attempt is all it gets: a dead letter
    finally:
        relay.close()
    [dead] = gateway.admin.store.outbox_items("dead")  # type: ignore[attr-defined]
    assert dead.package_id == far

    _sign_in(browser, gateway.url, "vanhanh")
    _shot(browser, "01-overview")
    assert browser.find_element(By.ID, "dead-letters").text == "1"

    browser.get(f"{gateway.url}/console/documents")
    browser.find_element(By.ID, "code").send_keys("12/VPCP")
    _submit(browser, browser.find_element(By.ID, "search"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#results tr")
    assert len(rows) == 2  # the header and the one document numbered 12/VPCP-TTĐT
    _shot(browser, "02-search-by-number")
    _submit(browser, rows[1].find_element(By.LINK_TEXT, "12/VPCP-TTĐT"))
    assert local in browser.current_url
    timeline = browser.find_element(By.ID, "timeline").text
    assert "Đã tiếp nhận" in timeline and "Vào hộp thư" in timeline and RECEIVER in timeline
    _shot(browser, "03-timeline")

    browser.get(f"{gateway.url}/console/queue?state=dead")
    row = browser.find_element(By.ID, f"item-{dead.id}")
    assert "dead" in row.text
    _shot(browser, "04-dead-letters")
    _submit(browser, row.find_element(By.CSS_SELECTOR, "button.retry"))
    assert "queued again" in browser.find_element(By.CSS_SELECTOR, ".notice").text
    item = gateway.admin.store.outbox_item(dead.id)  # type: ignore[attr-defined]
    assert item is not None and item.state == "queued"
    _shot(browser, "05-retried")

    browser.get(f"{gateway.url}/console/documents/{far}")
    timeline = browser.find_element(By.ID, "timeline").text
    assert "Gửi thất bại (thư chết)" in timeline
    assert "Người vận hành cho gửi lại" in timeline and "vanhanh" in timeline
    _shot(browser, "06-timeline-after-retry")


def test_a_forged_post_and_a_viewer_at_an_admin_action_are_refused(
    gateway: LiveGateway, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    gateway.send_soap()
    _sign_in(browser, gateway.url, "vien")
    browser.get(f"{gateway.url}/console/audit")
    assert not browser.find_elements(By.ID, "verify")  # no admin form for a viewer
    # A form without the CSRF token, posted from a console page in the signed-in browser.
    tokenless = (
        "<form id=f method=post action='/console/sign-out'>"
        "<input type=hidden name=x value=1></form>"
    )
    _run_and_wait(
        browser,
        "document.body.insertAdjacentHTML('beforeend', arguments[0]);"
        "document.getElementById('f').submit();",
        tokenless,
    )
    assert "403" in browser.find_element(By.TAG_NAME, "h1").text
    assert "CSRF" in browser.find_element(By.ID, "error").text
    _shot(browser, "07-csrf-less-post-refused")
    browser.get(f"{gateway.url}/console/")  # still signed in: the forged sign-out did nothing
    assert browser.find_element(By.CSS_SELECTOR, ".who").text.startswith("vien")

    # The same from another site: the SameSite cookie is not even sent.
    browser.get(
        "data:text/html;charset=utf-8,"
        f"<form id=f method=post action='{gateway.url}/console/sign-out'></form>"
        "<script>document.getElementById('f').submit()</script>"
    )
    WebDriverWait(browser, 30).until(
        lambda b: b.current_url.startswith(gateway.url)
        and b.execute_script("return document.readyState") == "complete"
    )
    assert "403" in browser.find_element(By.TAG_NAME, "h1").text
    _shot(browser, "08-cross-site-post-refused")

    # A viewer with a valid token at an admin action.
    browser.get(f"{gateway.url}/console/audit")
    token = browser.find_element(By.NAME, "csrf").get_attribute("value")  # the sign-out form's
    same_site = (
        "<form id=g method=post action='/console/audit/verify'>"
        f"<input type=hidden name=csrf value='{token}'></form>"
    )
    _run_and_wait(
        browser,
        "document.body.insertAdjacentHTML('beforeend', arguments[0]);"
        "document.getElementById('g').submit();",
        same_site,
    )
    assert "403" in browser.find_element(By.TAG_NAME, "h1").text
    assert "viewer" in browser.find_element(By.ID, "error").text
    _shot(browser, "09-viewer-refused-admin-action")
