"""The edXML core: QCVN 102:2016 model, lenient reader, strict streaming writer, validation."""

from gateway.edxml.model import (
    Attachment,
    BlobRef,
    DocumentPackage,
    Package,
    StatusPackage,
)
from gateway.edxml.reader import ReadOptions, read_package
from gateway.edxml.writer import package_bytes, write_package

__all__ = [
    "Attachment",
    "BlobRef",
    "DocumentPackage",
    "Package",
    "ReadOptions",
    "StatusPackage",
    "package_bytes",
    "read_package",
    "write_package",
]
