"""What an operator runs the gateway with: probes (``/healthz``, ``/readyz``), Prometheus
metrics (``/metrics``), backup and restore, and the web console. It sits between the entry points
(the server mounts it, the CLI calls it) and the faces, and reads the store below."""
