"""Connectors to upstreams: ``vxp`` (the national axis REST API) and ``peer`` (a parent gateway).

Each protocol is a module here exposing ``connector(upstream) -> Connector``; it is imported only
when an upstream uses it (each has its own client libraries).
"""

from __future__ import annotations

import importlib
from typing import cast

from gateway.relay.connector import Connector, UpstreamSettings

PROTOCOLS = ("vxp", "peer")


def connect(upstream: UpstreamSettings) -> Connector:
    """The connector for an upstream's protocol."""
    if upstream.protocol not in PROTOCOLS:
        raise ValueError(f"unknown upstream protocol {upstream.protocol!r}")
    module = importlib.import_module(f"gateway.relay.connectors.{upstream.protocol}")
    return cast(Connector, module.connector(upstream))
