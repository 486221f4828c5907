"""The REST face: the gateway's exchange spoken in the national axis's VXP protocol.

:mod:`.server` is the protocol's WSGI layer over a backend (routing, ``XroadVnpt-*`` header checks,
envelopes, streamed uploads and downloads), shared with the axis simulator; :mod:`.face` is the
backend over the exchange, mounted at ``/vxp`` beside the SOAP and legacy faces. The protocol itself
(headers, bodies, the header peek) lives below in :mod:`gateway.vxp`.
"""
