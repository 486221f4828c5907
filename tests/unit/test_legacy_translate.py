"""The eDoc dialect ↔ canonical model, both ways, with no loss of any field the dialect carries.

Random canonical packages (the strategies of the edXML round-trip property) go to the dialect's
header blocks, manifest and MIME parts and back. The dialect does not carry an XML signature (its
``Signature`` block holds credentials), a manifest version, or the VNPT-only attachment fields
``FieldName``/``MimeType``; everything else must come back equal. Profiles switch formats and codes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.config import Settings
from gateway.edxml.model import Attachment, DocumentPackage, ManifestReference, StatusPackage
from gateway.edxml.names import safe_file_name
from gateway.store.blobs import FileBlobStore
from legacy_adapters.edoc_soap.mime import Part
from legacy_adapters.edoc_soap.translate import (
    document_from_legacy,
    document_to_legacy,
    manifest_references,
    status_from_legacy,
    status_to_legacy,
)
from legacy_adapters.profiles import Profile, ProfileChooser, ProfileError, load_profiles
from tests.fixtures.packages import build_document, build_status
from tests.unit.test_roundtrip_properties import SETTINGS as _SETTINGS
from tests.unit.test_roundtrip_properties import document_packages, status_packages
from tests.unit.test_roundtrip_properties import store as store

EDOC = "http://www.e-doc.vn/Schema/"
SETTINGS = settings(_SETTINGS, max_examples=25)
PROFILES = [Profile(), Profile(status_code_format="two-digit", date_format="dd/MM/yyyy")]


def _through_legacy(
    pkg: DocumentPackage, blobs: FileBlobStore, profile: Profile
) -> DocumentPackage:
    legacy = document_to_legacy(pkg, profile)
    # Serialise and re-parse: what travels is bytes.
    blocks = [etree.fromstring(etree.tostring(b)) for b in legacy.header_blocks]
    manifest = etree.fromstring(etree.tostring(legacy.manifest))
    parts = {
        f.content_id: Part(
            f.content_id, f.content_type, f.blob, blobs.read_bytes(f.blob)[:16], False
        )
        for f in legacy.files
    }
    return document_from_legacy(
        blocks[0], blocks[1], manifest_references(manifest), parts, blobs, profile
    )


def _carried(pkg: DocumentPackage) -> DocumentPackage:
    """What the dialect carries of a package (see the module docstring): one name and one
    description per file, the Attachment's, else the manifest Reference's."""
    by_id = {r.content_id: r for r in pkg.references}
    empty = ManifestReference()
    attachments = tuple(
        Attachment(
            content_id=a.content_id,
            name=a.name or by_id.get(a.content_id, empty).attachment_name,
            description=a.description or by_id.get(a.content_id, empty).description,
            content_type=a.content_type
            or by_id.get(a.content_id, empty).content_type
            or "application/octet-stream",
            encoded=a.file,
            file=a.file,
            file_kind=a.file_kind,
        )
        for a in pkg.attachments
    )
    refs = {r.content_id: r for r in pkg.references}
    kept = tuple(a for a in attachments if not pkg.references or a.content_id in refs)
    # The dialect hands the name out as a file name: made safe, numbered when nothing is left.
    kept = tuple(
        replace(a, name=safe_file_name(a.name, f"attachment-{n}"))
        for n, a in enumerate(kept, start=1)
    )
    return replace(pkg, signature=None, manifest_version="1.0", attachments=kept, references=())


def _comparable(pkg: DocumentPackage) -> tuple[object, ...]:
    return (
        pkg.header,
        pkg.trace,
        pkg.signature,
        pkg.manifest_version,
        tuple(
            (a.content_id, a.name, a.description, a.content_type, a.file) for a in pkg.attachments
        ),
    )


@pytest.mark.slow
@pytest.mark.parametrize("profile", PROFILES, ids=["edoc", "two-digit-ddMM"])
@SETTINGS
@given(data=st.data())
def test_documents_survive_the_dialect(
    store: FileBlobStore, profile: Profile, data: st.DataObject
) -> None:
    pkg = data.draw(document_packages(store))
    # A reference with no attachment has no MIME part to travel in; a package always pairs them.
    ids = {a.content_id for a in pkg.attachments}
    pkg = replace(pkg, references=tuple(r for r in pkg.references if r.content_id in ids))
    if len({a.content_id for a in pkg.attachments}) != len(pkg.attachments):
        return  # duplicate Content-IDs cannot be MIME parts
    back = _through_legacy(pkg, store, profile)
    expected = _carried(pkg)
    assert _comparable(back) == _comparable(expected)


@pytest.mark.parametrize("profile", PROFILES, ids=["edoc", "two-digit-ddMM"])
@SETTINGS
@given(data=st.data())
def test_statuses_survive_the_dialect(
    store: FileBlobStore, profile: Profile, data: st.DataObject
) -> None:
    pkg: StatusPackage = data.draw(status_packages)
    if pkg.header.response_for is None:
        return  # the dialect's Status always answers a document
    el = etree.fromstring(etree.tostring(status_to_legacy(pkg, profile)))
    back = status_from_legacy(el, store, profile)
    assert back == replace(pkg, signature=None)


def test_status_code_and_timestamp_formats(tmp_path: Path) -> None:
    status = build_status()
    numeric = status_to_legacy(status, Profile())
    assert numeric.findtext(f"{{{EDOC}}}StatusCode") == "1"
    two = status_to_legacy(status, Profile(status_code_format="two-digit"))
    assert two.findtext(f"{{{EDOC}}}StatusCode") == "01"
    assert numeric.findtext(f"{{{EDOC}}}Timestamp") == "2024/03/05 09:10:11"
    # "1" from a Bkav-style client is the canonical "01".
    assert status_from_legacy(numeric, FileBlobStore(tmp_path), Profile()) == status


def test_agency_code_mapping_both_ways(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path, durable=False)
    pkg = build_document(blobs)
    profile = Profile(agency_codes={"G22": "000.00.00.G22", "H41": "000.00.00.H41"})
    legacy = document_to_legacy(pkg, profile)
    assert [e.text for e in legacy.header_blocks[0].iter(f"{{{EDOC}}}OrganId")] == ["G22", "H41"]
    assert _through_legacy(pkg, blobs, profile).header == pkg.header


def test_bundled_profiles_and_a_configured_directory(tmp_path: Path) -> None:
    bundled = load_profiles(None)
    assert {"edoc", "hp-eoffice"} <= set(bundled)
    hp = bundled["hp-eoffice"]
    assert hp.multipart_responses == "always" and hp.organization_extra_fields
    (tmp_path / "hp-eoffice.toml").write_text(
        'name = "hp-eoffice"\nstatus_code_format = "two-digit"\n'
        '[agency_codes]\n"H36.17" = "000.00.17.H36"\n',
        "utf-8",
    )
    settings = Settings(
        data_dir=tmp_path,
        legacy_profiles_dir=tmp_path,
        legacy_profile_by_agency=("000.00.17.H36=hp-eoffice",),
    )
    chooser = ProfileChooser(settings)
    assert chooser.for_agency("000.00.17.H36").status_code_format == "two-digit"
    assert chooser.for_agency("H36.17").name == "hp-eoffice"  # the client's QĐ 20 form
    assert chooser.for_agency("000.00.00.G22").name == "edoc"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('name = "x"\nstatus_code_format = "three"\n', "R.Profile.status_code_format"),
        ('name = "x"\ncolour = "blue"\n', "M.Profile.Unknown"),
        ('name = "x"\n[agency_codes]\n"not a code" = "000.00.00.G22"\n', "M.Profile.agency_codes"),
        ('name = "y"\n', "M.Profile.name"),
        ("name = ", "M.Profile.File"),
    ],
)
def test_bad_profiles_are_refused_with_a_code(tmp_path: Path, text: str, code: str) -> None:
    (tmp_path / "x.toml").write_text(text, "utf-8")
    with pytest.raises(ProfileError) as caught:
        load_profiles(tmp_path)
    assert caught.value.code == code


def test_unknown_profile_name_in_settings(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        ProfileChooser(Settings(data_dir=tmp_path, legacy_profile="nope"))
    assert caught.value.code == "R.Config.legacy_profile"


def test_profile_dates_keep_four_digit_years() -> None:
    assert Profile(date_format="dd/MM/yyyy").format_date(dt.date(9, 1, 2)) == "02/01/0009"
