"""The national-axis simulator: a test and demo tool, not part of the gateway's data path.

``edoc-gateway simulate-axis`` runs an HTTP server that speaks the national axis's VXP protocol
(reference §4: HMAC headers per systemId, agency registry, per-system received lists, transport
and sent-list statuses) on its **own** storage, a SQLite file and blob folder under its data
directory, and injects faults on request (drop, delay, 5xx, TCP reset, duplicate delivery). Tests
use it as the upstream; a newcomer can run the whole flow on one machine with it.
"""
