"""The web console at ``/console``: server-rendered pages (Jinja2) on werkzeug, plain forms.

No script runs in the browser (the Content-Security-Policy forbids it), so it works on any
office laptop and there is nothing to build. Every page needs a signed-in operator; what a
role may do is checked on the server for each request (a viewer reads, an operator also
retries and cancels sends, an admin also manages agencies, the audit log and downloads).
Every form carries the session's CSRF token and every POST is refused without it. Every
change is written to the audit log with the operator as its actor.
"""

from __future__ import annotations

import datetime as dt
import hmac
import io
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from werkzeug.exceptions import Forbidden, HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from gateway.admin.agency_import import import_agencies
from gateway.admin.operators import Operators
from gateway.admin.timeline import STATUS_MEANINGS, build_timeline
from gateway.audit.chain import export as export_audit
from gateway.audit.chain import verify as verify_audit
from gateway.config import Settings
from gateway.errors import AlreadyExists, BadRequest, GatewayError, SignInRefused
from gateway.errors import NotFound as Missing
from gateway.exchange import Exchange
from gateway.store.base import from_micros, to_micros
from gateway.store.console_sql import (
    PackageState,
    Role,
    SearchQuery,
    SessionRecord,
)
from gateway.store.relay_sql import OUTBOX_STATES

PREFIX = "/console"
SESSION_COOKIE = "edoc_console"
SIGN_IN_COOKIE = "edoc_signin"
"""The sign-in form's own CSRF token (a double-submit cookie: there is no session yet)."""
ICT = dt.timezone(dt.timedelta(hours=7), "ICT")
"""Times are shown in Vietnam's time, as clerks read them."""
_TEMPLATES = Path(__file__).parent / "templates"
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

MAX_IMPORT_BYTES = 8 * 1024 * 1024
"""A CSV of the province's agencies is far smaller than this."""
WsgiApp = Callable[..., Iterable[bytes]]
Handler = Callable[["Console", Request, SessionRecord, dict[str, Any]], Response]
_ROUTES: list[tuple[str, str, tuple[str, ...], Role]] = []
_HANDLERS: dict[str, Handler] = {}


def page(
    path: str, *, methods: tuple[str, ...] = ("GET",), role: Role = Role.VIEWER
) -> Callable[[Handler], Handler]:
    """Register a handler for ``PREFIX + path`` that needs at least ``role``."""

    def register(handler: Handler) -> Handler:
        name = handler.__name__
        _ROUTES.append((path, name, methods, role))
        _HANDLERS[name] = handler
        return handler

    return register


def _when(micros: int | None) -> str:
    if not micros:
        return "-"
    return from_micros(micros).astimezone(ICT).strftime("%d/%m/%Y %H:%M:%S")


def _age(micros: int | None, now: int) -> str:
    if not micros:
        return "-"
    seconds = max(0, (now - micros) // 1_000_000)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


class Console:
    """The console's WSGI application over an exchange's store."""

    def __init__(self, exchange: Exchange, settings: Settings) -> None:
        self.exchange = exchange
        self.settings = settings
        self.store = exchange.store
        self.tables = self.store.console_tables()
        self.operators = Operators(self.tables)
        self.clock = exchange.clock
        self.roles = {name: role for _path, name, _methods, role in _ROUTES}
        self.urls = Map(
            [
                Rule(f"{PREFIX}/sign-in", endpoint="sign_in", methods=["GET", "POST"]),
                *(
                    Rule(PREFIX + path, endpoint=name, methods=list(methods))
                    for path, name, methods, _role in _ROUTES
                ),
            ],
            strict_slashes=False,
        )
        self.jinja = Environment(
            loader=FileSystemLoader(_TEMPLATES),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.jinja.filters["when"] = _when
        self.jinja.globals.update(
            prefix=PREFIX, STATUS_MEANINGS=STATUS_MEANINGS, quote=quote, urlencode=urlencode
        )

    def now(self) -> int:
        return to_micros(self.clock())

    # -- WSGI ------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except HTTPException as exc:
            if exc.code in (301, 302, 303, 307, 308):  # werkzeug's slash redirects
                response = exc.get_response(request.environ)
            else:
                response = self.error_page(request, exc.code or 500, exc.description or "")
        except GatewayError as exc:  # a refusal the operator can act on: say what and why
            status = (
                404 if isinstance(exc, Missing)
                else 409 if isinstance(exc, AlreadyExists) or exc.code.endswith(".State")
                else 400
            )
            response = self.error_page(request, status, f"{exc.code}: {exc.message}")
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        adapter = self.urls.bind_to_environ(request.environ)
        endpoint, values = adapter.match()
        if endpoint == "sign_in":
            return self.sign_in(request)
        token = request.cookies.get(SESSION_COOKIE, "")
        session = self.operators.session(token, self.now())
        if session is None:
            if request.method != "GET":
                raise Forbidden("Phiên đăng nhập đã hết hạn · your session has ended: sign in")
            target = request.full_path.rstrip("?")
            return redirect(f"{PREFIX}/sign-in?{urlencode({'next': target})}", 303)
        if request.method == "POST":
            self.check_csrf(request, session.csrf_token)
        needed = self.roles[endpoint]
        if not session.operator.role.allows(needed):
            raise Forbidden(
                f"Vai trò {session.operator.role} không được phép · the role "
                f"{session.operator.role} may not do this (needs {needed})"
            )
        return _HANDLERS[endpoint](self, request, session, dict(values))

    def check_csrf(self, request: Request, expected: str) -> None:
        sent = request.form.get("csrf", "")
        if not sent or not hmac.compare_digest(sent, expected):
            raise Forbidden("Thiếu mã chống giả mạo (CSRF) · the form's CSRF token is missing "
                            "or wrong: reload the page and try again")
        origin = request.headers.get("Origin", "")
        if origin and origin != "null" and origin.split("://", 1)[-1] != request.host:
            raise Forbidden("Yêu cầu từ trang khác · the request came from another site")

    def secure(self, request: Request) -> bool:
        """Secure cookies when the browser reaches us over TLS (directly or through nginx)."""
        forwarded = request.headers.get("X-Forwarded-Proto", "")
        return (
            request.scheme == "https"
            or forwarded == "https"
            or self.settings.public_url.startswith("https://")
        )

    def render(
        self, request: Request, template: str, session: SessionRecord | None, status: int = 200,
        **context: Any,
    ) -> Response:
        body = self.jinja.get_template(template).render(
            session=session,
            operator=session.operator if session else None,
            csrf=session.csrf_token if session else "",
            Role=Role,
            now=self.now(),
            age=lambda micros: _age(micros, self.now()),
            path=request.path,
            request_notice=request.args.get("notice", ""),
            **context,
        )
        return Response(body, status=status, content_type="text/html; charset=utf-8")

    def error_page(self, request: Request, code: int, message: str) -> Response:
        session = None
        token = request.cookies.get(SESSION_COOKIE, "")
        if token:
            try:
                session = self.operators.session(token, self.now())
            except GatewayError:
                session = None
        return self.render(request, "error.html", session, code, code=code, message=message)

    # -- signing in and out ----------------------------------------------------------------
    def sign_in(self, request: Request) -> Response:
        target = request.values.get("next", "")
        if not target.startswith(PREFIX + "/") and target != PREFIX:
            target = PREFIX + "/"
        if request.method == "GET":
            token = secrets.token_urlsafe(32)
            response = self.render(request, "sign_in.html", None, form_csrf=token, next=target)
            response.set_cookie(
                SIGN_IN_COOKIE, token, max_age=3600, path=PREFIX, httponly=True,
                samesite="Strict", secure=self.secure(request),
            )
            return response
        self.check_csrf(request, request.cookies.get(SIGN_IN_COOKIE, "") or secrets.token_hex())
        name = request.form.get("name", "").strip()
        password = request.form.get("password", "")
        address = request.remote_addr or "-"
        try:
            new = self.operators.sign_in(name, password, address, self.now())
        except SignInRefused as refused:
            token = secrets.token_urlsafe(32)
            message = (
                "Quá nhiều lần đăng nhập sai; thử lại sau 15 phút · too many failed sign-ins: "
                "try again in 15 minutes"
                if refused.throttled
                else "Sai tên đăng nhập hoặc mật khẩu · wrong name or password"
            )
            response = self.render(
                request, "sign_in.html", None, 429 if refused.throttled else 401,
                form_csrf=token, next=target, error=message, name=name,
            )
            response.set_cookie(
                SIGN_IN_COOKIE, token, max_age=3600, path=PREFIX, httponly=True,
                samesite="Strict", secure=self.secure(request),
            )
            return response
        response = redirect(target, 303)
        response.set_cookie(
            SESSION_COOKIE, new.token, max_age=(new.record.expires_at - self.now()) // 1_000_000,
            path=PREFIX, httponly=True, samesite="Strict", secure=self.secure(request),
        )
        response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
        return response


def make_console_app(exchange: Exchange, settings: Settings) -> WsgiApp:
    return Console(exchange, settings)


# -- pages ------------------------------------------------------------------------------------


@page("/sign-out", methods=("POST",))
def sign_out(console: Console, request: Request, session: SessionRecord, _: Any) -> Response:
    console.operators.sign_out(
        request.cookies.get(SESSION_COOKIE, ""), console.now(), session.operator.name
    )
    response = redirect(f"{PREFIX}/sign-in", 303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


@page("/")
def overview(console: Console, request: Request, session: SessionRecord, _: Any) -> Response:
    now = console.clock().astimezone(ICT)
    day_start = to_micros(now.replace(hour=0, minute=0, second=0, microsecond=0))
    facts = console.tables.overview(day_start)
    certificates = _certificate_expiries(console)
    return console.render(
        request, "overview.html", session, facts=facts, certificates=certificates,
        upstreams=[u.name for u in console.settings.upstreams],
    )


def _certificate_expiries(console: Console) -> list[tuple[str, str, int]]:
    """(what, subject, days left) for the gateway's signing certificate and every trust
    anchor, soonest first."""
    now = console.clock()
    found = [
        ("signing · ký số", cert.subject.rfc4514_string(), (cert.not_valid_after_utc - now).days)
        for cert in console.exchange.signing_key.certificates[:1]
    ]
    for domain in console.exchange.trust.store.domains.values():
        for cert in domain.anchors:
            left = (cert.not_valid_after_utc - now).days
            found.append((f"trust · tin cậy {domain.name}", cert.subject.rfc4514_string(), left))
    return sorted(found, key=lambda entry: entry[2])


def _micros_of_day(text: str, *, end: bool) -> int:
    """A ``YYYY-MM-DD`` from a date field as micros (the day's start, or the next day's)."""
    if not text:
        return 0
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise BadRequest("R.Console.Date", f"{text!r} is not a date (ngày) YYYY-MM-DD") from None
    if end:
        day += dt.timedelta(days=1)
    return to_micros(dt.datetime(day.year, day.month, day.day, tzinfo=ICT))


@page("/documents")
def documents(console: Console, request: Request, session: SessionRecord, _: Any) -> Response:
    args = request.args
    form = {key: args.get(key, "").strip() for key in (
        "document_id", "code", "words", "sender", "recipient", "since", "until", "state", "kind"
    )}
    error = ""
    results = None
    before = None
    if args.get("before", "").isdigit():
        before = int(args["before"])
    if any(form.values()) or "search" in args:
        try:
            query = SearchQuery(
                document_id=form["document_id"], code=form["code"], words=form["words"],
                sender=form["sender"], recipient=form["recipient"],
                since=_micros_of_day(form["since"], end=False),
                until=_micros_of_day(form["until"], end=True),
                state=form["state"], kind=form["kind"], before=before, limit=50,
            )
            results = console.tables.search(query)
        except GatewayError as exc:
            error = f"{exc.code}: {exc.message}"
    next_page = ""
    if results and len(results) == 50:
        last = results[-1]
        next_page = urlencode({**form, "before": str(last.seq)})
    return console.render(
        request, "documents.html", session, form=form, results=results, error=error,
        states=[str(s) for s in PackageState], next_page=next_page,
    )


@page("/documents/<path:package_id>/attachments/<int:index>", role=Role.ADMIN)
def attachment(
    console: Console, request: Request, session: SessionRecord, values: dict[str, Any]
) -> Response:
    timeline = build_timeline(console.store, console.tables, values["package_id"])
    if timeline is None:
        raise NotFound("Không có gói tin này · no such package")
    files = timeline.summary.get("attachments") or []
    index = int(values["index"])
    if not 0 <= index < len(files):
        raise NotFound("Không có tệp đính kèm này · no such attachment")
    entry = files[index]
    try:
        stream = console.exchange.blobs.open(str(entry.get("sha256", "")))
    except (OSError, GatewayError):
        raise NotFound("Tệp không còn trong kho · the file is no longer kept") from None
    console.tables.record(
        console.now(), "console.attachment.downloaded", session.operator.name,
        timeline.package.package_id, {"name": str(entry.get("name", "")), "index": index},
    )
    response = Response(
        wrap_file(request.environ, stream), content_type="application/octet-stream",
        direct_passthrough=True,
    )
    name = str(entry.get("name") or f"attachment-{index + 1}")
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return response


@page("/documents/<path:package_id>")
def document(
    console: Console, request: Request, session: SessionRecord, values: dict[str, Any]
) -> Response:
    timeline = build_timeline(console.store, console.tables, values["package_id"])
    if timeline is None:
        raise NotFound("Không có gói tin này · no such package")
    return console.render(request, "document.html", session, t=timeline)


@page("/queue")
def queue(console: Console, request: Request, session: SessionRecord, _: Any) -> Response:
    state = request.args.get("state", "dead")
    upstream = request.args.get("upstream", "")
    package_id = request.args.get("package_id", "").strip()
    items = console.store.outbox_items(state if state != "all" else "", upstream, package_id, 200)
    return console.render(
        request, "queue.html", session, items=items, state=state, upstream=upstream,
        package_id=package_id, states=[str(s) for s in OUTBOX_STATES],
        counts=console.store.outbox_counts(),
        upstreams=[u.name for u in console.settings.upstreams],
    )


@page("/queue/<int:item_id>/retry", methods=("POST",), role=Role.OPERATOR)
def queue_retry(
    console: Console, request: Request, session: SessionRecord, values: dict[str, Any]
) -> Response:
    item = console.store.retry_outbox(values["item_id"], console.now(), session.operator.name)
    return _back(request, f"Đã cho gửi lại mục {item.id} · item {item.id} queued again")


@page("/queue/<int:item_id>/cancel", methods=("POST",), role=Role.OPERATOR)
def queue_cancel(
    console: Console, request: Request, session: SessionRecord, values: dict[str, Any]
) -> Response:
    reason = request.form.get("reason", "").strip()
    if not reason:
        raise BadRequest("N.Console.Reason", "say why the send is cancelled (lý do hủy)")
    item = console.store.cancel_outbox(
        values["item_id"], console.now(), session.operator.name, reason
    )
    return _back(request, f"Đã hủy mục {item.id} · item {item.id} cancelled")


def _back(request: Request, notice: str) -> Response:
    target = request.form.get("back", "")
    if not target.startswith(PREFIX + "/"):
        target = f"{PREFIX}/queue"
    separator = "&" if "?" in target else "?"
    return redirect(f"{target}{separator}{urlencode({'notice': notice})}", 303)


@page("/audit")
def audit(console: Console, request: Request, session: SessionRecord, _: Any) -> Response:
    facts = console.tables.overview(0)
    return console.render(request, "audit.html", session, facts=facts, report=None)


@page("/audit/verify", methods=("POST",), role=Role.ADMIN)
def audit_verify(console: Console, request: Request, session: SessionRecord, _: Any) -> Response:
    anchor = request.form.get("anchor", "").strip() or None
    try:
        report = verify_audit(_audit_log(console), anchor=anchor)
    except ValueError as exc:
        raise BadRequest("R.Console.Anchor", str(exc)) from None
    console.tables.record(
        console.now(), "console.audit.verified", session.operator.name, "audit_log",
        {"ok": report.ok, "count": report.count, "problems": report.problem_count,
         "anchor": report.anchor},
    )
    facts = console.tables.overview(0)
    return console.render(request, "audit.html", session, facts=facts, report=report)


@page("/audit/export", role=Role.ADMIN)
def audit_export(console: Console, request: Request, session: SessionRecord, _: Any) -> Response:
    buffer = io.BytesIO()
    count = export_audit(_audit_log(console), buffer)
    console.tables.record(
        console.now(), "console.audit.exported", session.operator.name, "audit_log",
        {"count": count},
    )
    response = Response(buffer.getvalue(), content_type="application/x-ndjson")
    stamp = console.clock().astimezone(ICT).strftime("%Y%m%d-%H%M%S")
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{stamp}.jsonl"'
    return response


def _audit_log(console: Console) -> Iterator[Any]:
    after = 0
    while chunk := console.store.audit_records(after, 5000):
        yield from chunk
        after = chunk[-1].seq


@page("/agencies")
def agencies(console: Console, request: Request, session: SessionRecord, _: Any) -> Response:
    return _agencies_page(console, request, session)


def _agencies_page(
    console: Console, request: Request, session: SessionRecord, **context: Any
) -> Response:
    local = console.exchange.local_agencies()
    return console.render(
        request, "agencies.html", session, agencies=local,
        directory=console.exchange.upstream_agencies(), **context,
    )


@page("/agencies/add", methods=("POST",), role=Role.ADMIN)
def agency_add(console: Console, request: Request, session: SessionRecord, _: Any) -> Response:
    form = request.form
    record, secret = console.exchange.credentials.add_agency(
        form.get("code", "").strip(), form.get("name", "").strip(), form.get("email", "").strip(),
        console.clock(), parent=form.get("parent", "").strip(),
    )
    console.tables.record(
        console.now(), "console.agency.added", session.operator.name, record.code,
        {"name": record.name},
    )
    return _agencies_page(console, request, session, secret=(record.code, secret))


@page("/agencies/<path:code>/<any(disable, enable, rotate):action>", methods=("POST",),
      role=Role.ADMIN)
def agency_change(
    console: Console, request: Request, session: SessionRecord, values: dict[str, Any]
) -> Response:
    code, action = str(values["code"]), str(values["action"])
    credentials = console.exchange.credentials
    secret = None
    if action == "rotate":
        record, new = credentials.rotate(code, console.clock())
        secret = (record.code, new)
        details: dict[str, Any] = {"secret_version": record.secret_version}
    else:
        record = credentials.set_enabled(code, action == "enable", console.clock())
        details = {"enabled": record.enabled}
    console.tables.record(
        console.now(), f"console.agency.{action}d" if action != "rotate" else
        "console.agency.rotated", session.operator.name, record.code, details,
    )
    if secret is not None:
        return _agencies_page(console, request, session, secret=secret)
    return redirect(
        f"{PREFIX}/agencies?{urlencode({'notice': f'{record.code}: {action}d'})}", 303
    )


@page("/agencies/import", methods=("POST",), role=Role.ADMIN)
def agency_import(console: Console, request: Request, session: SessionRecord, _: Any) -> Response:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise BadRequest("N.Console.File", "choose a CSV file to import (chọn tệp CSV)")
    raw = upload.stream.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        raise BadRequest("R.Console.File", f"the file is over {MAX_IMPORT_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("M.Agency.Import", "the file is not UTF-8 (không phải UTF-8)") from None
    dry_run = request.form.get("dry_run") == "1"
    report = import_agencies(console.exchange.credentials, text, console.clock(), dry_run=dry_run)
    if not dry_run and not report.problem:
        console.tables.record(
            console.now(), "admin.agencies.imported", session.operator.name, upload.filename,
            {"added": report.count("added"), "exists": report.count("exists"),
             "refused": report.count("refused")},
        )
    return _agencies_page(console, request, session, report=report)
