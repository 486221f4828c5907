"""Connectors to upstreams: ``vxp`` (the national axis REST API) and ``peer`` (a parent gateway).

Each protocol is a module here exposing ``connector(upstream) -> Connector``; it is imported only
when an upstream uses it (each has its own client libraries).
"""

from __future__ import annotations

import importlib
from typing import cast

from gateway.config import UpstreamProtocol, UpstreamSettings
from gateway.relay.connector import Connector


def connect(upstream: UpstreamSettings) -> Connector:
    """The connector for an upstream's protocol."""
    protocol = UpstreamProtocol(upstream.protocol)  # a ValueError names an unknown protocol
    module = importlib.import_module(f"gateway.relay.connectors.{protocol.value}")
    return cast(Connector, module.connector(upstream))
