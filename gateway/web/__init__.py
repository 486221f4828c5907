"""The one WSGI layer under the three faces: the bounded request-body stream, the refusal types'
plain-HTTP answers and response helpers, and the request-id + access-log middleware that
:mod:`gateway.server` wraps around the mounted faces."""

from gateway.web.body import CHUNK, RequestBody, open_body, too_large
from gateway.web.middleware import REQUEST_ID_KEY, RequestLog, request_id
from gateway.web.responses import (
    refusal_headers,
    send_bytes,
    send_refusal,
    send_text,
    status_line,
)

__all__ = [
    "CHUNK",
    "REQUEST_ID_KEY",
    "RequestBody",
    "RequestLog",
    "open_body",
    "refusal_headers",
    "request_id",
    "send_bytes",
    "send_refusal",
    "send_text",
    "status_line",
    "too_large",
]
