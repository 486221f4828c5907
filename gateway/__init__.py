"""edoc-gateway: a standards-compliant edXML (QCVN 102:2016) document-exchange gateway."""

__version__ = "0.1.0"
