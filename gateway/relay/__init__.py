"""Store-and-forward relay: the outbox worker, the inbound poller, and the connectors that carry
packages to an upstream (the national axis over VXP, or a parent gateway over SOAP)."""
