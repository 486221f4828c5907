"""The error catalogue: every code raised anywhere is catalogued and documented, every error
class lives in gateway/errors.py, and a clerk's sentence comes in the configured language."""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import catalogue
from gateway.catalogue import Language, LanguagePolicy, describe, field_name, render
from gateway.config import RouteRule, Settings, TrustDomainSettings, UpstreamSettings
from gateway.edxml.validate import _compiled
from gateway.vxp import wire
from legacy_adapters.profiles import Profile

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("gateway", "legacy_adapters")
CODE = re.compile(r"^(?:[NRMWT]\.[A-Za-z][\w.]*|Server\.[A-Z]\w*)$")
HEAD = re.compile(r"^(?:[NRMWT]|Server)\.")
DOCS = ROOT / "docs" / "errors.md"


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield str(path.relative_to(ROOT)), ast.parse(path.read_text("utf-8"))


@functools.cache
def _scan() -> tuple[dict[str, list[str]], set[str]]:
    """String literals that are codes (with where), and the source text of every code built
    at run time (an f-string or a concatenation starting with a code prefix)."""
    static: dict[str, list[str]] = {}
    dynamic: set[str] = set()
    for name, tree in _sources():
        parents = {c: n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
        for node in ast.walk(tree):
            parent = parents.get(node)
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if isinstance(parent, ast.JoinedStr):
                    continue
                text = node.value
                if isinstance(parent, ast.BinOp) and HEAD.match(text):
                    dynamic.add(ast.unparse(parent))
                elif CODE.match(text):
                    static.setdefault(text, []).append(f"{name}:{node.lineno}")
            elif isinstance(node, ast.JoinedStr) and node.values:
                first = node.values[0]
                if isinstance(first, ast.Constant) and HEAD.match(str(first.value)):
                    dynamic.add(ast.unparse(node))
    return static, dynamic


Children = dict[str, tuple[tuple[str, bool], ...]]


def _field_paths() -> set[str]:
    """Every dotted code path the schemas can name (elements and attributes), as the
    validator's ``_code_path`` and the reader's ``code_path`` build them."""
    skipped = {"edXML", "edXMLEnvelope", "edXMLHeader", "edXMLBody", "AttachmentEncoded"}
    paths: set[str] = set()

    def walk(children: Children, name: str, trail: tuple[str, ...]) -> None:
        here = (*trail, name) if name not in skipped else trail
        if here:
            paths.add(".".join(here))
        for child, _required in children.get(name, ()):
            if child not in trail:
                walk(children, child, here)

    for kind in ("document", "status"):
        walk(_compiled(kind).children, "edXML", ())
    paths.add("edXMLManifest.version")  # the one attribute (xs:attribute name="version")
    return paths


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


SETTINGS = _fields(Settings)
TABLES = {"upstream", "route", "trust_domain", "trust_senders"}
UPSTREAM = _fields(UpstreamSettings)
ROUTE = _fields(RouteRule)
TRUST_DOMAIN = _fields(TrustDomainSettings)
PROFILE = _fields(Profile)
VXP_CODES = {
    value for name, value in vars(wire).items() if name.isupper() and isinstance(value, str)
}
VXP_CODES = {code for code in VXP_CODES if code.isdigit()}

# How each code built at run time is enumerated. A new f-string or concatenation that makes a
# code fails test_every_code_built_at_run_time_is_enumerated until it is added here.
_FIELD_TEMPLATES = {
    "f'N.{_code_path(element)}'",
    "f'R.{_code_path(element)}'",
    "f'M.{_code_path(element)}'",
    "f'N.{_code_path(element, child)}'",
    "f'N.{_code_path(parent, required)}'",
    "f'N.{_code_path(element, attribute)}'",
    "f'M.{_code_path(element, attribute)}'",
    "f'M.{code_path(found)}'",
    "f'R.{code_path(found)}'",
    "f'W.{code_path(found)}'",
    "f'W.{code_path(el)}'",
}


def _dynamic_codes() -> dict[str, set[str]]:
    paths = _field_paths()
    return {
        **{template: {f"{template[2]}.{p}" for p in paths} for template in _FIELD_TEMPLATES},
        "f'M.{name}'": {"M.edXML", "M.MessageHeader"},
        "f'W.{code_path(c)}'": {"W.MessageHeader.Foo", "W.MessageHeader.OtherInfo.Bar"},
        "f'W.{code_path(el)}.{name}'": {
            "W.MessageHeader.OtherInfo.Priority",
            "W.MessageHeader.SteeringType",
        },
        # _coerce names a top-level setting or a field of an [[upstream]] or [[route]] table
        "'M.Config.' + name": {f"M.Config.{k}" for k in SETTINGS | UPSTREAM | ROUTE},
        "f'M.Config.{key}'": {"M.Config.upstream", "M.Config.route"},
        "f'R.Config.{name}'": {f"R.Config.{k}" for k in SETTINGS},
        "f'N.Config.upstream.{required}'": {f"N.Config.upstream.{k}" for k in UPSTREAM},
        "f'T.Config.trust_domain.{key}'": {f"T.Config.trust_domain.{k}" for k in TRUST_DOMAIN},
        "f'M.Config.trust_domain.{kind}s'": {
            "M.Config.trust_domain.anchors",
            "M.Config.trust_domain.intermediates",
        },
        "'R.Profile.' + key": {f"R.Profile.{k}" for k in PROFILE},
        "'T.Profile.' + key": {
            "T.Profile.organization_extra_fields",
            "T.Profile.document_needs_file",
        },
        "'R.Config.' + setting": {"R.Config.legacy_profile", "R.Config.legacy_profile_by_agency"},
        "f'R.Vxp.{envelope.error_code}'": {f"R.Vxp.{c}" for c in VXP_CODES},
        "f'M.Vxp.{envelope.error_code}'": {f"M.Vxp.{c}" for c in VXP_CODES},
        # the REST face's refusals, as its access line and metrics count them
        "f'M.Vxp.{refusal.code}'": {f"M.Vxp.{c}" for c in VXP_CODES},
        "f'M.Soap.{kind or side_name}'": {
            f"M.Soap.{k}"
            for k in ("ValidationError", "SchemaValidationError", "XmlSyntaxError", "Client")
        },
        "f'W.Namespace.{prefix}'": {"W.Namespace.edXML", "W.Namespace.xlink"},
        # config.py's one conversion path: a wrong type names the key (flat or in a table)
        "f'M.Config.{name}'": {f"M.Config.{k}" for k in SETTINGS | UPSTREAM | ROUTE},
        "f'M.Config.{kind}'": {f"M.Config.trust_domain.{k}" for k in TRUST_DOMAIN},
        # a value out of range or outside an enum: the key, prefixed by its table
        "f'R.Config.{code}{name}'": {
            *(f"R.Config.{k}" for k in SETTINGS),
            *(f"R.Config.upstream.{k}" for k in UPSTREAM),
            *(f"R.Config.trust_domain.{k}" for k in TRUST_DOMAIN),
        },
        "f'R.Config.{code}{f.name}'": {
            "R.Config.port",
            "R.Config.relay_concurrency",
            "R.Config.upstream.timeout_seconds",
            "R.Config.route.level",
            "R.Config.trust_domain.cache_seconds",
        },
        "f'N.Config.{table}.{name}'": {
            *(f"N.Config.upstream.{k}" for k in ("name", "protocol", "endpoint")),
            "N.Config.route.upstream",
        },
        # configcheck.py: a file or directory the settings name is missing or of the wrong kind
        "'N.Config.' + key.split('.')[-1]": {
            f"N.Config.{k}"
            for k in (
                "data_dir",
                "master_key_file",
                "signing_key_file",
                "signing_cert_file",
                "legacy_profiles_dir",
                "ca_bundle",
                "client_cert_file",
                "client_key_file",
            )
        },
        "'M.Config.' + key.split('.')[-1]": {
            "M.Config.signing_key_file",
            "M.Config.ca_bundle",
            "M.Config.client_cert_file",
        },
        "'M.Config.' + ('trust_store_dir' if kind == 'trust_store_dir' else "
        "f'trust_domain.{kind}s')": {
            "M.Config.trust_store_dir",
            "M.Config.trust_domain.anchors",
            "M.Config.trust_domain.intermediates",
        },
    }


def _documented(code: str, page: str) -> bool:
    """The page names the code itself, or its family and each element or key it names."""
    if f"`{code}`" in page:
        return True
    prefix, _, rest = code.partition(".")
    family, _, key = rest.partition(".")
    if family in ("Config", "Profile", "Vxp", "Soap", "Namespace"):
        placeholder = {"Config": "<key>", "Profile": "<key>", "Vxp": "<ErrorCode>"}.get(
            family, "<kind>" if family == "Soap" else "<prefix>"
        )
        return f"`{prefix}.{family}.{placeholder}`" in page and bool(key)
    if f"`{prefix}.<field path>`" not in page:
        return False
    steps = rest.split(".")
    if prefix == "W" and field_name(rest) is None:
        steps = steps[:-1]  # an unknown element dropped from a known parent
    return all(f"| `{step}` |" in page for step in steps)


def _config_key_is_real(code: str) -> bool:
    _prefix, _, rest = code.partition(".")
    family, _, key = rest.partition(".")
    if family == "Profile":
        return key in PROFILE or key in ("File", "Unknown")
    if family != "Config":
        return True
    head, _, sub = key.partition(".")
    if head in ("File", "Unknown"):
        return not sub
    if head == "upstream":
        return not sub or sub in UPSTREAM
    if head == "trust_domain":
        return not sub or sub in TRUST_DOMAIN
    if head == "route":
        return not sub or sub in ROUTE
    return head in SETTINGS | TABLES | UPSTREAM | ROUTE and not sub


def test_every_code_written_in_the_sources_is_catalogued_and_documented() -> None:
    static, _dynamic = _scan()
    assert len(static) > 150, "the scan finds the codes (sanity check of the scanner itself)"
    page = DOCS.read_text("utf-8")
    missing = {c: w for c, w in static.items() if describe(c) is None}
    assert not missing, f"codes without a catalogue entry: {missing}"
    undocumented = {c: w for c, w in static.items() if not _documented(c, page)}
    assert not undocumented, f"codes missing from docs/errors.md: {undocumented}"
    unknown_keys = sorted(c for c in static if not _config_key_is_real(c))
    assert not unknown_keys, f"codes naming no real setting or profile key: {unknown_keys}"


def test_every_code_built_at_run_time_is_enumerated() -> None:
    _static, dynamic = _scan()
    enumerated = _dynamic_codes()
    assert dynamic - enumerated.keys() == set(), "a new dynamic code: enumerate it here"
    page = DOCS.read_text("utf-8")
    for template, codes in enumerated.items():
        assert codes, template
        for code in codes:
            entry = describe(code)
            assert entry is not None, (template, code)
            assert _documented(code, page), (template, code)
            assert _config_key_is_real(code), (template, code)


def test_every_schema_field_has_its_vietnamese_name() -> None:
    paths = _field_paths()
    assert "MessageHeader.Subject" in paths and "Attachment.ContentTransferEncoded" in paths
    nameless = sorted(p for p in paths if field_name(p) is None)
    assert not nameless, f"fields without a Vietnamese name in FIELD_NAMES: {nameless}"
    assert field_name("MessageHeader.Subject") == "Trích yếu"
    assert field_name("MessageHeader.From.OrganId") == "Mã định danh của Cơ quan ban hành"
    assert field_name("MessageHeader.PromulgationInfo.PromulgationDate") == (
        "Ngày ban hành của Thông tin ban hành"
    )
    assert field_name("MessageHeader.To") == "Nơi nhận"
    assert field_name("MessageHeader.OtherInfo.Priority") == "Độ khẩn"
    assert field_name("MessageHeader.DocumentType") == "Loại văn bản"
    assert field_name("MessageHeader.Code") == "Số và ký hiệu"


def test_docs_page_is_generated_from_the_catalogue() -> None:
    assert DOCS.read_text("utf-8") == catalogue.markdown(), (
        "docs/errors.md is stale: run python -m gateway.catalogue > docs/errors.md"
    )


def test_an_unknown_code_is_not_catalogued() -> None:
    assert describe("X.Nothing") is None
    assert describe("N.") is None
    assert describe("N.NotAnEdxmlElement") is None
    assert describe("M.Config.port") is not None


_EXCEPTION_BASES = {"Exception", "ValueError", "RuntimeError", "KeyError", "OSError", "Fault"}
_ALLOWED_ELSEWHERE = {
    # the conformance kit's own verdicts on a tested gateway, not errors the gateway raises
    "gateway/conformance/registry.py": {"Failed", "Skipped"},
    "gateway/conformance/driver.py": {"ServiceFault"},
    # the legacy dialect's answer, carrying its ErrorItem (rendered by the face)
    "legacy_adapters/edoc_soap/service.py": {"Refusal"},
    # spyne's fault type in the modern service's WSDL
    "gateway/soap/types.py": {"GatewayFault"},
}


def test_every_error_class_is_in_errors_py() -> None:
    errors_tree = ast.parse((ROOT / "gateway" / "errors.py").read_text("utf-8"))
    known = set(_EXCEPTION_BASES) | {
        n.name for n in ast.walk(errors_tree) if isinstance(n, ast.ClassDef)
    }
    outside: list[str] = []
    for name, tree in _sources():
        if name == "gateway/errors.py":
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                continue
            bases = {ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases}
            if bases & known and node.name not in _ALLOWED_ELSEWHERE.get(name, set()):
                outside.append(f"{name}: {node.name}")
    assert not outside, f"error classes outside gateway/errors.py: {outside}"


def test_moved_error_classes_are_still_importable_from_their_first_home() -> None:
    from gateway import errors

    homes = {
        "gateway.config": ("ConfigError", "ConfigError"),
        "legacy_adapters.profiles": ("ProfileError", "ProfileError"),
        "gateway.edxml.dates": ("DateFormatError", "DateFormatError"),
        "gateway.soap.envelope": ("SoapFormatError", "SoapFormatError"),
        "gateway.audit.chain": ("ExportFormatError", "ExportFormatError"),
        "gateway.store.base": ("AlreadyExists", "AlreadyExists"),
        "gateway.security.credentials": ("MasterKeyError", "MasterKeyError"),
        "gateway.security.certificates": ("UnknownTrustDomain", "UnknownTrustDomain"),
        "gateway.security.signatures": ("SignatureRejected", "SignatureRejected"),
        "gateway.security.receipts": ("ReceiptInvalid", "ReceiptInvalid"),
        "gateway.relay.connector": ("PermanentRelayError", "PermanentRelayError"),
        "gateway.soap.faults": ("InternalError", "InternalError"),
        "gateway.restface.server": ("VxpRefusal", "VxpRefusal"),
        "gateway.vxp.headers": ("SignatureError", "VxpSignatureError"),
    }
    for module, (old, new) in homes.items():
        assert getattr(importlib.import_module(module), old) is getattr(errors, new), module


# --- the clerk's language -------------------------------------------------------------------

SUBJECT = "N.MessageHeader.Subject"
ENGLISH = "Subject of MessageHeader must not be empty"


def test_render_in_each_language() -> None:
    assert render(SUBJECT, ENGLISH, Language.EN) == ENGLISH
    vi = render(SUBJECT, ENGLISH, Language.VI)
    assert "Trích yếu" in vi and "must not" not in vi
    both = render(SUBJECT, ENGLISH, Language.BOTH)
    assert both.startswith(vi) and both.endswith(ENGLISH)
    assert "Số văn bản" in render("N.MessageHeader.Code.CodeNumber", "", Language.VI)
    assert "Cơ quan ban hành" in render("M.MessageHeader.From.OrganId", "x", Language.VI)
    assert "Chữ ký số" in render("M.Signature", "x", Language.VI)


def test_language_policy_per_agency() -> None:
    policy = LanguagePolicy.parse("en", ["000.00.01.H53=vi", " 000.00.32.H53 = both "])
    assert policy.for_agency("000.00.01.H53") is Language.VI
    assert policy.for_agency("000.00.32.H53") is Language.BOTH
    assert policy.for_agency("000.00.00.G22") is Language.EN
    assert policy.for_agency("") is Language.EN
    assert LanguagePolicy().for_agency("x") is Language.BOTH
    with pytest.raises(ValueError, match="vi, en, both"):
        LanguagePolicy.parse("fr")
    with pytest.raises(ValueError, match="agency code"):
        LanguagePolicy.parse("vi", ["000.00.01.H53"])
