"""The assertions, one module per dialect and area; each registers itself on import."""
