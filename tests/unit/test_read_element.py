"""``read_element``: a package built as a tree in memory reads as its bytes would."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from gateway.edxml.reader import ReadOptions, read_element, read_package
from gateway.edxml.writer import package_bytes
from gateway.errors import LimitExceeded, UnusableInput
from gateway.store.blobs import FileBlobStore
from tests.fixtures.packages import build_document, build_status


@pytest.fixture
def blobs(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "blobs", durable=False)


def test_a_tree_reads_as_its_bytes(blobs: FileBlobStore) -> None:
    for pkg in (build_document(blobs, b"%PDF-1.4 tree"), build_status()):
        data = package_bytes(pkg, blobs)
        from_tree = read_element(etree.fromstring(data), blobs)
        assert from_tree == read_package(data, blobs)
        assert from_tree == pkg


def test_a_tree_with_a_quirk_is_repaired_with_the_same_warning(blobs: FileBlobStore) -> None:
    data = package_bytes(build_document(blobs, b"%PDF-1.4 quirk"), blobs)
    damaged = data.replace(
        b">2024/03/05</edXML:PromulgationDate>", b">05/03/2024</edXML:PromulgationDate>"
    )
    assert damaged != data
    from_tree = read_element(etree.fromstring(damaged), blobs)
    assert from_tree.findings and from_tree.findings == read_package(damaged, blobs).findings


def test_a_tree_is_held_to_the_same_limits(blobs: FileBlobStore) -> None:
    with pytest.raises(UnusableInput) as wrong_root:
        read_element(etree.fromstring(b"<Envelope/>"), blobs)
    assert wrong_root.value.code == "M.Namespace"
    deep = etree.fromstring(package_bytes(build_status(), None))
    node = deep
    for _ in range(300):
        node = etree.SubElement(node, "x")
    with pytest.raises(LimitExceeded) as too_deep:
        read_element(deep, blobs)
    assert too_deep.value.code == "R.Xml.Depth"
    shallow = ReadOptions(max_depth=5)
    with pytest.raises(LimitExceeded):
        read_element(etree.fromstring(package_bytes(build_status(), None)), blobs, shallow)
