"""Example packages bundled with the gateway (our own, not the national axis's samples)."""
