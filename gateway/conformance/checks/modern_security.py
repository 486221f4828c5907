"""AUTH, ACCESS and INPUT: who may do what, and bad input refused with nothing stored."""

from __future__ import annotations

import base64
import datetime as dt

from gateway.conformance.checks.modern_exchange import sent
from gateway.conformance.checks.modern_session import ModernSession, expect_fault
from gateway.conformance.driver import ServiceFault
from gateway.conformance.modern import TNS
from gateway.conformance.registry import Failed, NotApplicable, assertion, expect
from gateway.conformance.session import Doc

WSS = "WS-Security UsernameToken Profile 1.0 §3-4"
AUTH_CODES = ("M.Security",)


def _refused_auth(s: ModernSession, driver_call: object) -> ServiceFault:
    fault = expect_fault(driver_call, codes=AUTH_CODES)  # type: ignore[arg-type]
    return fault


# -- AUTH -------------------------------------------------------------------------------------


@assertion("EDGW-AUTH-001", "a request without a Security header is refused", WSS)
def auth_missing(s: ModernSession) -> None:
    _refused_auth(s, lambda: s.anonymous().pending("document"))


@assertion("EDGW-AUTH-002", "a wrong secret is refused", WSS)
def auth_wrong_secret(s: ModernSession) -> None:
    _refused_auth(s, lambda: s.as_agency(secret="sai-mat-khau-" + s.tag).pending("document"))


@assertion("EDGW-AUTH-003", "an unknown agency is refused", WSS)
def auth_unknown_agency(s: ModernSession) -> None:
    _refused_auth(s, lambda: s.as_agency(agency="999.99.99.Z99", secret="x").pending("document"))


@assertion(
    "EDGW-AUTH-004", "a Created older than the replay window is refused", f"{WSS} (freshness)"
)
def auth_stale(s: ModernSession) -> None:
    window = int(s.info().replayWindowSeconds)
    created = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=window + 600)
    _refused_auth(s, lambda: s.as_agency(created=created).pending("document"))


@assertion(
    "EDGW-AUTH-005", "a Created far in the future is refused", f"{WSS} (freshness)", mandatory=False
)
def auth_future(s: ModernSession) -> None:
    window = int(s.info().replayWindowSeconds)
    created = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=window + 600)
    _refused_auth(s, lambda: s.as_agency(created=created).pending("document"))


@assertion("EDGW-AUTH-006", "the same nonce twice is refused as a replay", f"{WSS} (nonce cache)")
def auth_replay(s: ModernSession) -> None:
    token = s.as_agency(nonce=f"ktph-nonce-{s.tag}", created=dt.datetime.now(dt.UTC))
    token.pending("document")  # the first use must work
    replayed = s.as_agency(nonce=f"ktph-nonce-{s.tag}", created=token.credentials.created)  # type: ignore[union-attr]
    _refused_auth(s, lambda: replayed.pending("document"))


@assertion(
    "EDGW-AUTH-007",
    "PasswordText is refused unless the service allows it",
    f"{WSS}; GetServiceInfo.passwordTextAllowed",
    mandatory=False,
)
def auth_password_text(s: ModernSession) -> None:
    if s.info().passwordTextAllowed:
        raise NotApplicable("the service says it accepts PasswordText")
    _refused_auth(s, lambda: s.as_agency(digest=False).pending("document"))


@assertion(
    "EDGW-AUTH-008",
    "wrong credentials on a public operation are still refused",
    f"{WSS}; {'wsdl/edoc-gateway.wsdl'} (Ping)",
    mandatory=False,
)
def auth_public(s: ModernSession) -> None:
    _refused_auth(s, lambda: s.as_agency(secret="sai-" + s.tag).ping())


@assertion(
    "EDGW-AUTH-009",
    "a refused send stores nothing",
    f"{WSS}; DESIGN §3 (bad input changes nothing)",
)
def auth_nothing_stored(s: ModernSession) -> None:
    doc = s.new_doc()
    _refused_auth(s, lambda: s.as_agency(secret="sai-" + s.tag).send_document(doc.package))
    s.assert_not_delivered(doc)


# -- ACCESS -----------------------------------------------------------------------------------


def _elsewhere(s: ModernSession) -> tuple[Doc, str]:
    """A package from the agency to a third agency: none of the peer's business."""

    def build() -> tuple[Doc, str]:
        third = s.third_agency()
        doc = s.document(s.modern.agency, (third,))
        return doc, s.send(doc).package_id

    return s.scenario("elsewhere", build)


@assertion(
    "EDGW-ACCESS-001", "GetPackage of another agency's package is refused", "DESIGN §3 (mailboxes)"
)
def access_get(s: ModernSession) -> None:
    _, package_id = _elsewhere(s)
    expect_fault(lambda: s.peer_driver.get(package_id), codes=("N.", "M.Permission"))


@assertion(
    "EDGW-ACCESS-002",
    "ConfirmReceived of another agency's package is refused",
    "DESIGN §3 (mailboxes)",
)
def access_confirm(s: ModernSession) -> None:
    _, package_id = _elsewhere(s)
    expect_fault(lambda: s.peer_driver.confirm(package_id, "ok"), codes=("N.", "M.Permission"))


@assertion(
    "EDGW-ACCESS-003", "GetTraces of another agency's package is refused", "DESIGN §3 (mailboxes)"
)
def access_traces(s: ModernSession) -> None:
    _, package_id = _elsewhere(s)
    expect_fault(lambda: s.peer_driver.traces(package_id=package_id), codes=("N.", "M.Permission"))


@assertion(
    "EDGW-ACCESS-004",
    "another agency's package is not in the peer's mailbox",
    "DESIGN §3 (mailboxes)",
)
def access_pending(s: ModernSession) -> None:
    _, package_id = _elsewhere(s)
    expect(
        package_id not in s.pending_ids(), "the peer's mailbox lists a package addressed elsewhere"
    )


@assertion(
    "EDGW-ACCESS-005",
    "sending as another agency (From/OrganId) is refused",
    "ref §4.4 (sender must match)",
)
def access_impersonate(s: ModernSession) -> None:
    doc = s.document(s.peer_driver.agency, (s.peer_driver.agency,))
    expect_fault(lambda: s.send(doc), codes=("M.MessageHeader.From", "M.Permission"))


@assertion("EDGW-ACCESS-006", "a status claiming another sender is refused", "ref §2.7; §4.4")
def access_status_impersonate(s: ModernSession) -> None:
    doc = sent(s).doc
    package = s.status("05", doc, s.third_agency())
    expect_fault(
        lambda: s.peer_driver.send_status(package), codes=("M.MessageHeader.From", "M.Permission")
    )


# -- INPUT ------------------------------------------------------------------------------------


def _refused(s: ModernSession, doc: Doc, package: bytes, codes: tuple[str, ...]) -> ServiceFault:
    fault = expect_fault(lambda: s.modern.send_document(package), codes=codes)
    expect(fault.message, "the fault has no message")
    s.assert_not_delivered(doc)
    return fault


@assertion(
    "EDGW-INPUT-001",
    "a package that is not well-formed XML is refused, nothing stored",
    "ref §2.1; DESIGN §3",
)
def input_malformed(s: ModernSession) -> None:
    doc = s.new_doc()
    _refused(s, doc, doc.package[: len(doc.package) // 2], ("M.",))


@assertion(
    "EDGW-INPUT-002",
    "a package missing its Subject is refused with the element's path",
    "ref §2.2 (Subject required)",
)
def input_invalid(s: ModernSession) -> None:
    doc = s.new_doc(subject=" ")
    package = doc.package.replace(
        b"<edXML:Subject> </edXML:Subject>", b"<edXML:Subject></edXML:Subject>"
    )
    fault = _refused(s, doc, package, ("N.MessageHeader.Subject",))
    expect(fault.path.endswith("Subject"), f"the fault's path is {fault.path!r}")


@assertion(
    "EDGW-INPUT-003",
    "edXML in the wrong namespace is refused, nothing stored",
    "ref §0.1, §2.1 (QCVN namespace)",
)
def input_namespace(s: ModernSession) -> None:
    doc = s.new_doc()
    package = doc.package.replace(
        b"http://www.mic.gov.vn/TBT/QCVN_102_2016", b"urn:example:not-edxml"
    )
    _refused(s, doc, package, ("M.", "N."))


@assertion(
    "EDGW-INPUT-004",
    "an edXML package with a DOCTYPE (XXE) is refused, nothing stored",
    "ref §7; OWASP XXE",
)
def input_xxe_package(s: ModernSession) -> None:
    doc = s.new_doc()
    head, _, rest = doc.package.partition(b"\n")
    subject = doc.subject.encode()
    package = (
        head + b'\n<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>\n' + rest
    ).replace(subject, subject + b" &xxe;")
    _refused(s, doc, package, ("M.",))


@assertion(
    "EDGW-INPUT-005",
    "a SOAP envelope with a DOCTYPE is refused, nothing stored",
    "SOAP 1.1 §3; SOAP 1.2 part 1 §5",
)
def input_xxe_envelope(s: ModernSession) -> None:
    doc = s.new_doc()
    encoded = base64.b64encode(doc.package).decode()
    body = s.modern.envelope(
        f'<SendDocument xmlns="{TNS}"><package>{encoded}</package></SendDocument>',
        header=s.modern.security() + '<k:Note xmlns:k="urn:ktph">&note;</k:Note>',
        doctype='<!DOCTYPE s:Envelope [<!ENTITY note "kiểm thử">]>',
    )
    _raw_fault(s, s.modern.raw(body), ("M.",))
    s.assert_not_delivered(doc)


def _raw_fault(s: ModernSession, exchange: object, codes: tuple[str, ...]) -> ServiceFault:
    fault = s.modern.raw_fault(exchange)  # type: ignore[arg-type]
    status = getattr(exchange, "status", 0)
    if fault is None:
        raise Failed(f"expected a SOAP fault {'/'.join(codes)}, got HTTP {status} without one")
    expect(fault.code.startswith(codes), f"expected a fault code {'/'.join(codes)}, got {fault}")
    expect(
        fault.standard in ("Client", "Sender"),
        f"fault code {fault.standard!r} is not Client/Sender",
    )
    return fault


@assertion(
    "EDGW-INPUT-006",
    "a SOAP body that is not well-formed gets a client fault",
    "SOAP 1.1 §4.4; SOAP 1.2 part 1 §5.4",
)
def input_soap_malformed(s: ModernSession) -> None:
    _raw_fault(
        s,
        s.modern.raw(b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'),
        ("M.",),
    )


@assertion(
    "EDGW-INPUT-007",
    "a package that is not base64 gets a client fault",
    "wsdl/edoc-gateway.wsdl (xs:base64Binary)",
)
def input_bad_base64(s: ModernSession) -> None:
    body = s.modern.envelope(
        f'<SendDocument xmlns="{TNS}"><package>@@ không phải base64 @@</package></SendDocument>'
    )
    _raw_fault(s, s.modern.raw(body), ("M.",))


@assertion(
    "EDGW-INPUT-008",
    "a recipient without a mailbox is refused, nothing stored",
    "ref §2.2 (To); §4.4",
)
def input_unknown_recipient(s: ModernSession) -> None:
    doc = s.document(s.modern.agency, (s.peer_driver.agency, "999.99.99.Z99"))
    _refused(
        s, doc, doc.package, ("R.MessageHeader.To", "N.MessageHeader.To", "M.MessageHeader.To")
    )


@assertion(
    "EDGW-INPUT-009",
    "a revoke naming no document is refused, nothing stored",
    "ref §2.4 (Bussiness/DocumentId)",
)
def input_revoke_without_target(s: ModernSession) -> None:
    from gateway.edxml.enums import BusinessDocType
    from gateway.edxml.model import Business

    doc = s.new_doc(
        business=Business(doc_type=BusinessDocType.REVOKE, reason="Thu hồi", paper="0"),
        document_id="",
    )
    _refused(s, doc, doc.package, ("N.",))


@assertion(
    "EDGW-INPUT-010",
    "a document sent through SendStatus is refused",
    "wsdl/edoc-gateway.wsdl (SendStatus)",
    mandatory=False,
)
def input_wrong_operation(s: ModernSession) -> None:
    doc = s.new_doc()
    expect_fault(lambda: s.modern.send_status(doc.package), codes=("M.",))
    s.assert_not_delivered(doc)


@assertion(
    "EDGW-INPUT-011",
    "a SOAP 1.2 envelope sent as text/xml gets a version-mismatch fault",
    "SOAP 1.1 §4.4.1; SOAP 1.2 part 1 §5.4.7",
    mandatory=False,
)
def input_version_mismatch(s: ModernSession) -> None:
    body = s.soap12().envelope(f'<Ping xmlns="{TNS}"/>', header="")
    exchange = s.modern.raw(body, content_type="text/xml; charset=utf-8")
    fault = s.modern.raw_fault(exchange)
    expect(fault is not None, f"HTTP {exchange.status} without a fault")


@assertion(
    "EDGW-INPUT-012",
    "an unsupported Content-Type is refused (HTTP 415 or a fault)",
    "SOAP 1.1 §6; SOAP 1.2 part 2 §7",
    mandatory=False,
)
def input_media_type(s: ModernSession) -> None:
    exchange = s.modern.raw(
        s.modern.envelope(f'<Ping xmlns="{TNS}"/>', header=""), content_type="application/json"
    )
    expect(
        exchange.status == 415 or s.modern.raw_fault(exchange) is not None,
        f"HTTP {exchange.status}",
    )
