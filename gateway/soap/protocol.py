"""spyne's SOAP 1.1 and 1.2 protocols, adjusted: hardened parsing, the gateway's faults.

- The body is parsed once, by a parser with entities, DTDs and the network off and ``huge_tree``
  on (documents carry base64 text nodes over libxml2's 10 MB default); a DOCTYPE is refused.
  spyne's SwA/MTOM collapsing and SOAP-encoding ``href`` resolution are not used (document/literal
  only; attachments never go through spyne's DOM).
- Every fault, raised by an operation or by spyne itself (syntax, validation, unknown
  operation), is written by :mod:`gateway.soap.faults`, with the HTTP status of its SOAP version.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from lxml import etree
from spyne import Application
from spyne.protocol.soap import Soap11, Soap12

from gateway.catalogue import Language
from gateway.errors import GatewayError, SoapFormatError
from gateway.soap import types as t
from gateway.soap.envelope import SoapVersion, refuse_doctype
from gateway.soap.faults import append_fault, spyne_fault_error
from gateway.soap.service import (
    ENVIRON_KEY,
    SERVICE_NAME,
    SOAP_HTTP_TRANSPORT,
    CallContext,
    EdocGatewayService,
)

PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "load_dtd": False,
    "no_network": True,
    "huge_tree": True,
}


def fault_error(fault: Any) -> GatewayError:
    """The gateway error a spyne fault stands for."""
    if isinstance(fault, t.GatewayFault):
        error: GatewayError = fault.error
        return error
    return spyne_fault_error(str(fault.faultcode), str(fault.faultstring))


class _GatewayProtocol:
    """Overrides shared by both SOAP versions (mixed in before spyne's class)."""

    version: SoapVersion
    parser_kwargs: dict[str, Any]

    def create_in_document(self, ctx: Any, charset: str | None = None) -> None:
        """Parse the body the WSGI layer already read (spyne's own input stream is empty)."""
        context: CallContext = ctx.transport.req_env[ENVIRON_KEY]
        try:
            root = etree.fromstring(
                context.body, etree.XMLParser(collect_ids=False, **self.parser_kwargs)
            )
            refuse_doctype(root)
        except etree.XMLSyntaxError as exc:
            error = SoapFormatError("M.Soap.Xml", f"the request is not well-formed XML: {exc}")
            raise t.GatewayFault(error) from None
        except GatewayError as error:
            raise t.GatewayFault(error) from None
        ctx.in_document = (root, {})

    def fault_to_parent(
        self, ctx: Any, cls: Any, inst: Any, parent: Any, ns: Any, *_: Any, **__: Any
    ) -> None:
        error = fault_error(inst)
        context = ctx.transport.req_env.get(ENVIRON_KEY)
        language = Language.BOTH
        if isinstance(context, CallContext):
            context.error = error
            language = context.language
        append_fault(parent, self.version, error, language)

    schema_validation_error_to_parent = fault_to_parent

    def fault_to_http_response_code(self, fault: Any) -> str:
        status = HTTPStatus(self.version.fault_status(fault_error(fault).side))
        return f"{status.value} {status.phrase}"


class GatewaySoap11(_GatewayProtocol, Soap11):  # type: ignore[misc]
    version = SoapVersion.SOAP11


class GatewaySoap12(_GatewayProtocol, Soap12):  # type: ignore[misc]
    version = SoapVersion.SOAP12


def build_application(version: SoapVersion) -> Any:
    """The spyne application for one SOAP version (same service, same namespace)."""
    protocol = GatewaySoap11 if version is SoapVersion.SOAP11 else GatewaySoap12
    app = Application(
        [EdocGatewayService],
        t.TNS,
        name=SERVICE_NAME,
        in_protocol=protocol(validator="soft", **PARSER_OPTIONS),
        out_protocol=protocol(**PARSER_OPTIONS),
    )
    app.transport = SOAP_HTTP_TRANSPORT
    return app
