"""The web console through werkzeug's test client, on a real store (SQLite and PostgreSQL):
sign-in, cookies, CSRF, throttling, roles, every page, the tracker's search and a timeline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace

import pytest
from werkzeug.test import TestResponse

from gateway.admin.console import PREFIX, SESSION_COOKIE, Console
from gateway.admin.operators import MAX_FAILURES_PER_NAME
from gateway.audit.chain import verify
from gateway.config import Settings
from gateway.exchange import Exchange
from gateway.store.base import to_micros
from gateway.store.console_sql import SearchQuery
from gateway.store.sql import SqlStore
from tests.fixtures.console import (
    RECEIVER,
    SENDER,
    Browser,
    make_dead_letter,
    seed_agencies,
    seed_operators,
    send_document,
)

NOW = dt.datetime(2026, 11, 21, 3, 0, 0, tzinfo=dt.UTC)  # 10:00 in Vietnam


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def exchange(store_settings: Settings, clock: Clock) -> Iterator[Exchange]:
    ex = Exchange(store_settings, clock=clock)
    seed_agencies(ex, clock())
    assert isinstance(ex.store, SqlStore)
    seed_operators(ex.store, to_micros(clock()))
    yield ex
    ex.close()


@pytest.fixture
def console(exchange: Exchange, store_settings: Settings) -> Console:
    return Console(exchange, store_settings)


@pytest.fixture
def store(exchange: Exchange) -> SqlStore:
    assert isinstance(exchange.store, SqlStore)
    return exchange.store


def _session_cookies(answer: TestResponse) -> list[str]:
    return [c for c in answer.headers.getlist("Set-Cookie") if c.startswith(SESSION_COOKIE + "=")]


def _audit(store: SqlStore) -> list[tuple[str, str, str]]:
    return [(r.event, r.actor, r.subject) for r in store.audit_records(0, 10_000)]


# -- signing in --------------------------------------------------------------------------------


def test_pages_need_a_session_and_send_the_browser_to_sign_in(console: Console) -> None:
    browser = Browser(console)
    answer = browser.get(f"{PREFIX}/documents?code=12")
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith(f"{PREFIX}/sign-in?next=")
    assert browser.post(f"{PREFIX}/queue/1/retry", {}, csrf=False).status_code == 403


def test_sign_in_sets_a_strict_httponly_cookie_and_lands_on_the_page_asked_for(
    console: Console, store: SqlStore
) -> None:
    browser = Browser(console)
    browser.get(f"{PREFIX}/sign-in")
    answer = browser.post(
        f"{PREFIX}/sign-in",
        {"name": "vien", "password": "xem-thoi-nhe-1234", "next": f"{PREFIX}/documents"},
    )
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/documents")
    [cookie] = _session_cookies(answer)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP on 127.0.0.1
    page = browser.get(f"{PREFIX}/")
    assert page.status_code == 200 and "Tổng quan" in page.get_data(as_text=True)
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert ("console.signed_in", "vien", "vien") in _audit(store)


def test_the_cookie_is_secure_behind_tls(console: Console) -> None:
    browser = Browser(console, base_url="https://gateway.example.gov.vn")
    answer = browser.sign_in("vien")
    [cookie] = _session_cookies(answer)
    assert "Secure" in cookie


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    console: Console, store: SqlStore
) -> None:
    browser = Browser(console)
    unknown = browser.sign_in("nobody", "whatever-password")
    wrong = browser.sign_in("vien", "not-the-password")
    assert unknown.status_code == wrong.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu" in wrong.get_data(as_text=True)
    assert not _session_cookies(wrong)
    assert ("console.sign_in_refused", "vien", "vien") in _audit(store)


def test_sign_in_is_throttled_after_repeated_failures(console: Console) -> None:
    browser = Browser(console)
    for _ in range(MAX_FAILURES_PER_NAME):
        assert browser.sign_in("vien", "guess-guess-guess").status_code == 401
    throttled = browser.sign_in("vien")  # the right password, too late
    assert throttled.status_code == 429
    assert "Quá nhiều lần đăng nhập sai" in throttled.get_data(as_text=True)
    assert Browser(console).sign_in("vanhanh").status_code == 303  # another name is not


def test_the_throttle_lifts_after_its_window(console: Console, clock: Clock) -> None:
    browser = Browser(console)
    for _ in range(MAX_FAILURES_PER_NAME):
        browser.sign_in("vien", "guess-guess-guess")
    clock.now += dt.timedelta(minutes=16)
    assert browser.sign_in("vien").status_code == 303


def test_a_sign_in_post_without_the_form_token_is_refused(console: Console) -> None:
    browser = Browser(console)
    answer = browser.post(
        f"{PREFIX}/sign-in", {"name": "vien", "password": "xem-thoi-nhe-1234"}, csrf=False
    )
    assert answer.status_code == 403 and "CSRF" in answer.get_data(as_text=True)


def test_sign_out_ends_the_session(console: Console) -> None:
    browser = Browser(console)
    browser.sign_in("vien")
    browser.get(f"{PREFIX}/")
    assert browser.post(f"{PREFIX}/sign-out", {}).status_code == 303
    assert browser.get(f"{PREFIX}/").status_code == 303


def test_a_session_expires_and_ends_when_the_operator_is_disabled(
    console: Console, clock: Clock
) -> None:
    browser = Browser(console)
    browser.sign_in("vien")
    assert browser.get(f"{PREFIX}/").status_code == 200
    console.operators.set_enabled("vien", False, to_micros(clock()), "test")
    assert browser.get(f"{PREFIX}/").status_code == 303
    console.operators.set_enabled("vien", True, to_micros(clock()), "test")
    assert browser.sign_in("vien").status_code == 303
    clock.now += dt.timedelta(hours=9)
    assert browser.get(f"{PREFIX}/").status_code == 303


# -- CSRF and roles ----------------------------------------------------------------------------


def test_a_post_without_the_csrf_token_changes_nothing(
    console: Console, store: SqlStore, clock: Clock
) -> None:
    dead = make_dead_letter(store, to_micros(clock()))
    browser = Browser(console)
    browser.sign_in("vanhanh")
    browser.get(f"{PREFIX}/queue")
    refused = browser.post(f"{PREFIX}/queue/{dead.outbox_id}/retry", {}, csrf=False)
    assert refused.status_code == 403
    forged = browser.client.post(
        f"{PREFIX}/queue/{dead.outbox_id}/retry", data={"csrf": "forged"},
        base_url=browser.base_url,
    )
    assert forged.status_code == 403
    item = store.outbox_item(dead.outbox_id)
    assert item is not None and item.state == "dead"


def test_a_post_from_another_origin_is_refused(
    console: Console, store: SqlStore, clock: Clock
) -> None:
    dead = make_dead_letter(store, to_micros(clock()))
    browser = Browser(console)
    browser.sign_in("vanhanh")
    browser.get(f"{PREFIX}/queue")
    answer = browser.client.post(
        f"{PREFIX}/queue/{dead.outbox_id}/retry", data={"csrf": browser.csrf},
        base_url=browser.base_url, headers={"Origin": "http://evil.example"},
    )
    assert answer.status_code == 403


def test_a_viewer_may_read_but_not_retry_nor_download(
    console: Console, exchange: Exchange, store: SqlStore, clock: Clock
) -> None:
    dead = make_dead_letter(store, to_micros(clock()))
    package_id = send_document(exchange)
    browser = Browser(console)
    browser.sign_in("vien")
    assert browser.get(f"{PREFIX}/queue?state=dead").status_code == 200
    refused = browser.post(f"{PREFIX}/queue/{dead.outbox_id}/retry", {})
    assert refused.status_code == 403 and "viewer" in refused.get_data(as_text=True)
    item = store.outbox_item(dead.outbox_id)
    assert item is not None and item.state == "dead"
    page = browser.get(f"{PREFIX}/documents/{package_id}").get_data(as_text=True)
    assert "/attachments/0" not in page  # no link for a viewer
    assert browser.get(f"{PREFIX}/documents/{package_id}/attachments/0").status_code == 403
    assert browser.post(f"{PREFIX}/audit/verify", {}).status_code == 403


def test_an_operator_retries_and_cancels_and_the_audit_log_names_them(
    console: Console, store: SqlStore, clock: Clock
) -> None:
    dead = make_dead_letter(store, to_micros(clock()))
    other = make_dead_letter(store, to_micros(clock()), "dead-2")
    browser = Browser(console)
    browser.sign_in("vanhanh")
    page = browser.get(f"{PREFIX}/queue?state=dead").get_data(as_text=True)
    assert f'id="item-{dead.outbox_id}"' in page and "M.Vxp.18" in page
    answer = browser.post(f"{PREFIX}/queue/{dead.outbox_id}/retry", {})
    assert answer.status_code == 303
    retried = store.outbox_item(dead.outbox_id)
    assert retried is not None and (retried.state, retried.attempts) == ("queued", 0)
    no_reason = browser.post(f"{PREFIX}/queue/{other.outbox_id}/cancel", {"reason": " "})
    assert no_reason.status_code == 400 and "N.Console.Reason" in no_reason.get_data(as_text=True)
    assert browser.post(
        f"{PREFIX}/queue/{other.outbox_id}/cancel", {"reason": "gửi nhầm đơn vị"}
    ).status_code == 303
    cancelled = store.outbox_item(other.outbox_id)
    assert cancelled is not None and cancelled.state == "cancelled"
    assert cancelled.last_error == "gửi nhầm đơn vị"
    again = browser.post(f"{PREFIX}/queue/{other.outbox_id}/cancel", {"reason": "lần nữa"})
    assert again.status_code == 409 and "R.Outbox.State" in again.get_data(as_text=True)
    events = _audit(store)
    assert ("admin.outbox.retry", "vanhanh", dead.package_id) in events
    assert ("admin.outbox.cancel", "vanhanh", other.package_id) in events
    assert console.tables.indexed(other.package_id).state == "cancelled"  # type: ignore[union-attr]


# -- the tracker -------------------------------------------------------------------------------


def _found(browser: Browser, query: str) -> str:
    answer = browser.get(f"{PREFIX}/documents?search=1&{query}")
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_the_tracker_finds_a_document_by_each_field(
    console: Console, exchange: Exchange, clock: Clock
) -> None:
    first = send_document(exchange)
    clock.now += dt.timedelta(days=2)
    second = send_document(
        exchange, document_id=f"{SENDER},2024/03/07,15/VPCP-KSTT",
        code=replace_code("15", "VPCP-KSTT"), subject="Về việc báo cáo tình hình cải cách",
    )
    third = send_document(
        exchange, document_id=f"{SENDER},2024/03/07,16/VPCP-KSTT",
        code=replace_code("16", "VPCP-KSTT"), subject="Đề xuất giao đất tại Đồng Nai",
    )
    browser = Browser(console)
    browser.sign_in("vien")
    cases = {
        "code=12/VPCP-TT%C4%90T": {first},
        "code=12%2Fvpcp": {first},  # the beginning of the code, any case
        "code=15": {second},
        "words=thu+nghiem": {first},  # diacritics folded
        "words=c%E1%BA%A3i+c%C3%A1ch": {second},
        "words=c%E1%BA%A3i+nghi%E1%BB%87m": set(),  # every word must occur
        "words=dong+nai": {third},  # d finds đ
        "words=de+xuat+dat": {third},
        "words=%C4%91%E1%BA%A5t": {third},  # đất, as typed
        "words=%C4%90%C3%B4ng": {third},  # Đông
        "words=ddd": set(),
        f"document_id={SENDER},2024/03/07,15/VPCP-KSTT": {second},
        f"sender={SENDER}": {first, second, third},
        f"recipient={RECEIVER}": {first, second, third},
        "recipient=000.00.00.X99": set(),
        "since=2026-11-22&until=2026-11-23": {second, third},
        "until=2026-11-21": {first},
        "state=pending": {first, second, third},
        "state=dead": set(),
    }
    for query, expected in cases.items():
        page = _found(browser, query)
        shown = {p for p in (first, second, third) if f"/documents/{p}" in page}
        assert shown == expected, query
    assert "R.Console.Date" in _found(browser, "since=21-11-2026")


def replace_code(number: str, notation: str) -> object:
    from gateway.edxml.model import Code

    return Code(number, notation)


def test_search_pages_run_newest_first(exchange: Exchange, clock: Clock) -> None:
    ids = []
    for n in range(5):
        clock.now += dt.timedelta(minutes=1)
        ids.append(send_document(exchange, document_id=f"{SENDER},2024/03/05,{n}/VPCP",
                                 code=replace_code(str(n), "VPCP")))
    assert isinstance(exchange.store, SqlStore)
    tables = exchange.store.console_tables()
    first = tables.search(SearchQuery(sender=SENDER, limit=3))
    assert [r.package_id for r in first] == ids[::-1][:3]
    rest = tables.search(SearchQuery(sender=SENDER, limit=3,
                                     before=first[-1].seq))
    assert [r.package_id for r in rest] == ids[::-1][3:]


def test_the_timeline_shows_reception_delivery_confirmation_and_statuses(
    console: Console, exchange: Exchange, clock: Clock
) -> None:
    package_id = send_document(exchange)
    clock.now += dt.timedelta(minutes=5)
    exchange.confirm_received(RECEIVER, package_id, "ok", "")
    browser = Browser(console)
    browser.sign_in("vien")
    page = browser.get(f"{PREFIX}/documents/{package_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    timeline = text[text.index('id="timeline"'):]
    order = ["Đã tiếp nhận", "Vào hộp thư", "Đơn vị nhận đã xác nhận", "Trạng thái 01: Đã đến"]
    positions = [timeline.index(label) for label in order]
    assert positions == sorted(positions)
    assert "12/VPCP-TTĐT" in text and "V/v thử nghiệm liên thông văn bản" in text
    assert "Công văn 12-VPCP.pdf" in text
    assert browser.get(f"{PREFIX}/documents/no-such-package").status_code == 404


def test_an_admin_downloads_an_attachment_and_it_is_audited(
    console: Console, exchange: Exchange, store: SqlStore
) -> None:
    package_id = send_document(exchange)
    browser = Browser(console)
    browser.sign_in("quantri")
    page = browser.get(f"{PREFIX}/documents/{package_id}").get_data(as_text=True)
    assert f"/documents/{package_id}/attachments/0" in page
    answer = browser.get(f"{PREFIX}/documents/{package_id}/attachments/0")
    assert answer.status_code == 200 and answer.get_data() == b"%PDF-1.4 console test"
    assert "attachment; filename*=UTF-8''" in answer.headers["Content-Disposition"]
    assert browser.get(f"{PREFIX}/documents/{package_id}/attachments/7").status_code == 404
    assert ("console.attachment.downloaded", "quantri", package_id) in _audit(store)


# -- overview, queue, audit --------------------------------------------------------------------


def test_the_overview_counts_today_and_names_what_needs_attention(
    console: Console, exchange: Exchange, store: SqlStore, clock: Clock
) -> None:
    send_document(exchange)
    make_dead_letter(store, to_micros(clock()))
    browser = Browser(console)
    browser.sign_in("vien")
    text = browser.get(f"{PREFIX}/").get_data(as_text=True)
    assert 'id="received-today">2<' in text
    assert 'id="dead-letters"' in text and ">1</a>" in text
    assert RECEIVER in text  # its mailbox backlog
    assert "national" in text and "relay.dead" in text
    assert "signing" in text  # the gateway's own certificate and its days left


def test_an_admin_verifies_and_exports_the_audit_log(
    console: Console, exchange: Exchange, store: SqlStore
) -> None:
    send_document(exchange)
    browser = Browser(console)
    browser.sign_in("quantri")
    browser.get(f"{PREFIX}/audit")
    verified = browser.post(f"{PREFIX}/audit/verify", {}).get_data(as_text=True)
    assert 'id="verdict"' in verified and "OK:" in verified
    anchor = verified.split('id="anchor">')[1].split("<")[0]
    assert browser.post(f"{PREFIX}/audit/verify", {"anchor": anchor}).status_code == 200
    assert browser.post(f"{PREFIX}/audit/verify", {"anchor": "junk"}).status_code == 400
    exported = browser.get(f"{PREFIX}/audit/export")
    assert exported.status_code == 200 and exported.get_data().count(b"\n") >= 3
    assert "OK" in browser.get(f"{PREFIX}/").get_data(as_text=True)
    events = _audit(store)
    assert ("console.audit.verified", "quantri", "audit_log") in events
    assert ("console.audit.exported", "quantri", "audit_log") in events
    assert verify(store.audit_records(0, 10_000)).ok


def test_the_console_is_mounted_in_the_gateway(store_settings: Settings, tmp_path: object) -> None:
    from werkzeug.test import Client

    from gateway.server import build_app

    settings = replace(store_settings, public_url="http://127.0.0.1:1")
    answer = Client(build_app(settings)).get(f"{PREFIX}/")
    assert answer.status_code == 303 and "/console/sign-in" in answer.headers["Location"]
    assert Client(build_app(settings)).get(f"{PREFIX}/sign-in").status_code == 200


# -- agencies ----------------------------------------------------------------------------------


def test_an_admin_adds_disables_and_rotates_agencies(
    console: Console, exchange: Exchange, store: SqlStore
) -> None:
    browser = Browser(console)
    browser.sign_in("quantri")
    page = browser.get(f"{PREFIX}/agencies").get_data(as_text=True)
    assert f'id="agency-{SENDER}"' in page and "Văn phòng Chính phủ" in page
    added = browser.post(
        f"{PREFIX}/agencies/add",
        {"code": "000.00.50.H53", "name": "Sở Tư pháp", "email": "", "parent": ""},
    )
    text = added.get_data(as_text=True)
    assert added.status_code == 200 and 'id="secret"' in text
    secret = text.split('id="secret"')[1].split("<code>")[1].split("</code>")[0]
    assert secret == exchange.credentials.current_secret("000.00.50.H53")
    again = browser.post(f"{PREFIX}/agencies/add", {"code": "000.00.50.H53", "name": "x"})
    assert again.status_code == 409 and "M.Agency.Exists" in again.get_data(as_text=True)
    bad = browser.post(f"{PREFIX}/agencies/add", {"code": "h53", "name": "x"})
    assert bad.status_code == 400 and "M.AgencyCode" in bad.get_data(as_text=True)
    browser.get(f"{PREFIX}/agencies")
    assert browser.post(f"{PREFIX}/agencies/000.00.50.H53/disable", {}).status_code == 303
    assert not exchange.credentials.store.get_agency("000.00.50.H53").enabled  # type: ignore[union-attr]
    rotated = browser.post(f"{PREFIX}/agencies/000.00.50.H53/rotate", {})
    assert exchange.credentials.current_secret("000.00.50.H53") in rotated.get_data(as_text=True)
    events = _audit(store)
    for event in ("console.agency.added", "console.agency.disabled", "console.agency.rotated"):
        assert (event, "quantri", "000.00.50.H53") in events


def test_an_operator_cannot_change_agencies(console: Console, exchange: Exchange) -> None:
    browser = Browser(console)
    browser.sign_in("vanhanh")
    page = browser.get(f"{PREFIX}/agencies").get_data(as_text=True)
    assert "/agencies/add" not in page
    assert browser.post(f"{PREFIX}/agencies/{SENDER}/disable", {}).status_code == 403
    assert exchange.credentials.store.get_agency(SENDER).enabled  # type: ignore[union-attr]


def test_a_csv_upload_imports_agencies_with_a_report_per_line(
    console: Console, exchange: Exchange, store: SqlStore
) -> None:
    import io

    browser = Browser(console)
    browser.sign_in("quantri")
    browser.get(f"{PREFIX}/agencies")
    csv_text = (
        "code;name;email;parent\n"
        "000.00.61.H53;Phòng Nội vụ;;000.00.60.H53\n"  # its parent comes later in the file
        "000.00.60.H53;UBND huyện Hòa Thành;vanthu@hoathanh.gov.vn;\n"
        f"{SENDER};Văn phòng Chính phủ;;\n"
        "000.00.62.H53;;;\n"
    )

    def upload(dry_run: bool) -> str:
        data = {"csrf": browser.csrf, "file": (io.BytesIO(csv_text.encode()), "don-vi.csv")}
        if dry_run:
            data["dry_run"] = "1"
        answer = browser.client.post(
            f"{PREFIX}/agencies/import", data=data, base_url=browser.base_url,
            content_type="multipart/form-data",
        )
        assert answer.status_code == 200
        return answer.get_data(as_text=True).split('id="import-report"')[1].split("</div>")[0]

    dry = upload(True)
    assert "would add" in dry and exchange.credentials.store.get_agency("000.00.60.H53") is None
    report = upload(False)
    assert report.count(">added<") == 2 and ">exists<" in report and "N.Agency.Name" in report
    child = exchange.credentials.store.get_agency("000.00.61.H53")
    assert child is not None and child.parent == "000.00.60.H53"
    assert upload(False).count(">exists<") == 3  # idempotent
    assert ("admin.agencies.imported", "quantri", "don-vi.csv") in _audit(store)
