"""Adapters for legacy eOffice dialects (the eDoc SOAP dialect, client profiles).

They depend on :mod:`gateway.edxml`; the core never imports them.
"""
