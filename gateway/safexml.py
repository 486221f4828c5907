"""Hardened lxml parsers for untrusted input: no entities, no DTD, no network.

Every parser of request or package bytes comes from here, so the settings that stop XXE and
entity expansion are written once. ``huge_tree`` lifts libxml2's 10 MB text-node limit, which
real attachments exceed; callers bound depth and size themselves.
"""

from __future__ import annotations

from lxml import etree


def pull_parser(*, huge_tree: bool = True) -> etree.XMLPullParser:
    """An incremental parser reporting element starts and ends."""
    return etree.XMLPullParser(
        events=("start", "end"),
        huge_tree=huge_tree,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
    )


def tree_parser(*, huge_tree: bool = False) -> etree.XMLParser:
    """A parser that builds a whole tree at once (small inputs)."""
    return etree.XMLParser(
        huge_tree=huge_tree,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
    )


def has_doctype(element: etree._Element) -> bool:
    """Whether the document of ``element`` declared a DTD: the parsers above never load it nor
    expand its entities, so a reader that accepted one would silently drop ``&name;`` text;
    every face refuses it instead."""
    return bool(getattr(element.getroottree().docinfo, "doctype", ""))  # lxml-stubs lack it
