"""Agency codes in both forms, against the real codes of reference §3.1-3.3."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.edxml.agency import (
    AGENCY_CODE_ERROR,
    AgencyCode,
    AgencyCodeForm,
    check_agency_code,
    is_valid_agency_code,
    parse_agency_code,
)
from gateway.errors import Finding, InvalidAgencyCode, Severity

QCVN = AgencyCodeForm.QCVN102
QD20 = AgencyCodeForm.QD20


def _error(text: str, *, form: AgencyCodeForm | None = None) -> InvalidAgencyCode:
    with pytest.raises(InvalidAgencyCode) as info:
        parse_agency_code(text, form=form, path="/x")
    assert info.value.code == AGENCY_CODE_ERROR == "M.AgencyCode"
    assert info.value.path == "/x"
    return info.value


# --- QCVN 102:2016 ----------------------------------------------------------------------------

# The Bkav Tây Ninh contact table (§3.1): code, level, parent.
TAY_NINH = [
    ("000.00.00.H53", 1, None),
    ("000.00.01.H53", 2, "000.00.00.H53"),
    ("000.01.01.H53", 3, "000.00.01.H53"),
    ("000.02.01.H53", 3, "000.00.01.H53"),
    ("000.00.32.H53", 2, "000.00.00.H53"),
    ("000.01.32.H53", 3, "000.00.32.H53"),
    ("000.05.32.H53", 3, "000.00.32.H53"),
    ("000.20.32.H53", 3, "000.00.32.H53"),
    ("000.21.32.H53", 3, "000.00.32.H53"),
]


@pytest.mark.parametrize(("text", "level", "parent"), TAY_NINH)
def test_qcvn_tay_ninh_hierarchy(text: str, level: int, parent: str | None) -> None:
    code = parse_agency_code(text)
    assert code.form is QCVN
    assert code.level == level
    assert code.level1 == "H53"
    assert (None if code.parent is None else str(code.parent)) == parent


@pytest.mark.parametrize(
    ("text", "level", "level1", "parent"),
    [
        ("000.00.17.H36", 2, "H36", "000.00.00.H36"),  # Sở Nội vụ Lâm Đồng
        ("000.00.24.H36", 2, "H36", "000.00.00.H36"),
        ("000.00.88.H36", 2, "H36", "000.00.00.H36"),
        ("002.00.20.H13", 4, "H13", "000.00.20.H13"),  # level 4 (PVN test data)
        ("000.00.00.G22", 1, "G22", None),  # VPCP
        ("000.00.00.H49", 1, "H49", None),
        ("000.00.00.H27", 1, "H27", None),
        ("000.12.30.A36", 3, "A36", "000.00.30.A36"),  # Party bloc letter A
        ("000.00.00.K57", 1, "K57", None),  # HĐND Huế
        # A level with a gap: V is set while Z and Y are zero (Quảng Nam, Duy Xuyên).
        ("001.00.00.H47", 4, "H47", "000.00.00.H47"),
        ("001.00.10.H47", 4, "H47", "000.00.10.H47"),
    ],
)
def test_qcvn_real_codes(text: str, level: int, level1: str, parent: str | None) -> None:
    code = parse_agency_code(text)
    assert code.form is QCVN
    assert code.text == str(code) == text
    assert code.groups == tuple(text.split("."))
    assert code.level == level
    assert code.level1 == level1
    assert (None if code.parent is None else str(code.parent)) == parent


@pytest.mark.parametrize("level1", ["G22", "H36", "K57", "A53", "W00", "I03", "JB2", "TT2"])
def test_qcvn_level1_codes_seen_in_traffic(level1: str) -> None:
    code = parse_agency_code(f"000.00.00.{level1}")
    assert code.form is QCVN
    assert code.level == 1
    assert code.level1 == level1
    assert code.parent is None


def test_qcvn_parent_chain_from_level_4() -> None:
    code = parse_agency_code("002.03.20.H13")
    assert [str(a) for a in code.ancestors()] == ["000.03.20.H13", "000.00.20.H13", "000.00.00.H13"]
    assert [a.level for a in code.ancestors()] == [3, 2, 1]
    assert all(a.form is QCVN for a in code.ancestors())


def test_surrounding_whitespace_is_stripped() -> None:
    code = parse_agency_code("  000.00.17.H36\n\t")
    assert code.text == "000.00.17.H36"
    assert code == parse_agency_code("000.00.17.H36")


# --- QĐ 20/2020 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "level", "level1", "parent"),
    [
        ("H36.17", 2, "H36", "H36"),
        ("H37.02.02", 3, "H37", "H37.02"),
        ("H37.DN.002", 3, "H37", "H37.DN"),
        ("G22", 1, "G22", None),
        ("01.K36", 2, "01", "01"),  # Bkav config value; syntax only, not a claim it is sensible
    ],
)
def test_qd20_codes(text: str, level: int, level1: str, parent: str | None) -> None:
    code = parse_agency_code(text)
    assert code.form is QD20
    assert code.text == str(code) == text
    assert code.groups == tuple(text.split("."))
    assert code.level == level
    assert code.level1 == level1
    assert (None if code.parent is None else str(code.parent)) == parent
    if code.parent is not None:
        assert code.parent.form is QD20


def test_three_group_code_is_not_qcvn_but_is_qd20_syntax() -> None:
    code = parse_agency_code("28.22.H17")
    assert code.form is QD20
    assert code.level == 3
    assert code.level1 == "28"
    with pytest.raises(InvalidAgencyCode, match="has 3 dot-separated groups, not 4"):
        parse_agency_code("28.22.H17", form=QCVN)


def test_qcvn_group_widths_are_exact() -> None:
    # The SDK's "Hà giang test" sample has a 3-digit Z group, so it is not QCVN 102.
    assert parse_agency_code("999.010.01.H22").form is QD20
    error = _error("999.010.01.H22", form=QCVN)
    assert "bad group 2 (Z1Z2, level 3) '010'" in error.message
    assert "expected 2 digits" in error.message


def test_qd20_max_length_is_35() -> None:
    text = "H37." + "1" * 31
    assert len(text) == 35
    assert parse_agency_code(text).form is QD20
    error = _error(text + "1")
    assert "36 characters long" in error.message
    assert "more than the 35" in error.message


def test_qcvn_text_matches_qd20_charset_but_classifies_as_qcvn() -> None:
    assert parse_agency_code("000.00.17.H36").form is QCVN
    error = _error("000.00.17.H36", form=QD20)
    assert "QCVN 102:2016 form" in error.message
    assert "QĐ 20/2020 form" in error.message and "expected here" in error.message


def test_explicit_form_accepts_matching_codes() -> None:
    assert parse_agency_code("000.00.17.H36", form=QCVN).form is QCVN
    assert parse_agency_code("H36.17", form=QD20).form is QD20
    assert is_valid_agency_code("H36.17", form=QD20)
    assert not is_valid_agency_code("H36.17", form=QCVN)


# --- ancestry ---------------------------------------------------------------------------------


def test_is_ancestor_of_qcvn() -> None:
    province = parse_agency_code("000.00.00.H53")
    district = parse_agency_code("000.00.32.H53")
    office = parse_agency_code("000.01.32.H53")
    other_district = parse_agency_code("000.01.01.H53")
    assert province.is_ancestor_of(district)
    assert province.is_ancestor_of(office)
    assert district.is_ancestor_of(office)
    assert not district.is_ancestor_of(other_district)
    assert not office.is_ancestor_of(district)
    assert not office.is_ancestor_of(office)  # strict
    assert not parse_agency_code("000.00.00.H36").is_ancestor_of(office)


def test_is_ancestor_of_skips_levels_only_along_the_real_chain() -> None:
    leaf = parse_agency_code("001.00.10.H47")
    assert parse_agency_code("000.00.10.H47").is_ancestor_of(leaf)
    assert parse_agency_code("000.00.00.H47").is_ancestor_of(leaf)
    # 001.00.00.H47 is a sibling branch, not an ancestor, although its V group matches.
    assert not parse_agency_code("001.00.00.H47").is_ancestor_of(leaf)


def test_is_ancestor_of_qd20() -> None:
    assert parse_agency_code("H37").is_ancestor_of(parse_agency_code("H37.DN.002"))
    assert parse_agency_code("H37.DN").is_ancestor_of(parse_agency_code("H37.DN.002"))
    assert not parse_agency_code("H37.02").is_ancestor_of(parse_agency_code("H37.DN.002"))
    assert not parse_agency_code("H3").is_ancestor_of(parse_agency_code("H37.DN"))


def test_is_ancestor_of_never_crosses_forms() -> None:
    # These name the same body (§3.2), but matching them needs the axis's list, not a rule.
    assert not parse_agency_code("H36").is_ancestor_of(parse_agency_code("000.00.17.H36"))
    assert not parse_agency_code("000.00.00.H36").is_ancestor_of(parse_agency_code("H36.17"))


def test_no_conversion_between_forms_is_offered() -> None:
    assert parse_agency_code("000.00.17.H36") != parse_agency_code("H36.17")
    public = {name for name in dir(AgencyCode) if not name.startswith("_")}
    assert not {n for n in public if re.search("qd20|qcvn|convert|to_", n, re.IGNORECASE)}


def test_direct_construction_is_validated() -> None:
    with pytest.raises(InvalidAgencyCode):
        AgencyCode("000.00.17.H36", QCVN, ("000", "00", "17"))
    with pytest.raises(InvalidAgencyCode):
        AgencyCode("H36.17", QCVN, ("H36", "17"))
    assert AgencyCode("H36.17", QD20, ("H36", "17")) == parse_agency_code("H36.17")


def test_codes_are_hashable_values() -> None:
    assert len({parse_agency_code("H36.17"), parse_agency_code(" H36.17 ")}) == 1


# --- invalid input ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty(text: str) -> None:
    message = _error(text).message
    assert "is empty" in message
    assert "QCVN 102:2016 form" in message and "QĐ 20/2020 form" in message


def test_too_long() -> None:
    message = _error("H" * 36).message
    assert "36 characters long" in message and "35" in message


def test_too_long_message_is_cut_short() -> None:
    message = _error("A" * 10_000).message
    assert "10000 characters" in message
    assert len(message) < 600


def test_vxp_system_id_is_rejected_as_lowercase() -> None:
    message = _error("vxp.saas.03").message
    assert "lowercase letter 'v' at position 1" in message
    assert "uppercase" in message
    assert "systemId" in message


def test_lowercase_is_not_uppercased_for_the_caller() -> None:
    message = _error("000.00.17.h36").message
    assert "lowercase letter 'h' at position 11" in message
    assert "not uppercased" in message
    assert not is_valid_agency_code("h36.17")


@pytest.mark.parametrize("text", ["null", "None", "undefined"])
def test_placeholders(text: str) -> None:
    assert "placeholder for a missing value" in _error(text).message


def test_uppercase_placeholder_spelling_is_still_only_syntax() -> None:
    # NULL is valid QĐ 20 syntax; whether such an agency exists is the axis's business.
    assert parse_agency_code("NULL").form is QD20


@pytest.mark.parametrize(
    ("text", "char", "position"),
    [
        ("000 .00.17.H36", "' '", 4),
        ("000-00-17-H36", "'-'", 4),
        ("H36.17\u00a0X", "'\\xa0'", 7),
        ("Đ36.17", "'Đ'", 1),
        ("H36/17", "'/'", 4),
    ],
)
def test_bad_character(text: str, char: str, position: int) -> None:
    message = _error(text).message
    assert f"character {char} at position {position}" in message
    assert "only 0-9, A-Z and '.' are allowed" in message


@pytest.mark.parametrize(("text", "group"), [(".H36", 1), ("H36.", 2), ("H36..17", 2), (".", 1)])
def test_empty_group(text: str, group: int) -> None:
    message = _error(text).message
    assert f"empty group {group}" in message


@pytest.mark.parametrize(
    ("text", "count"),
    [("H36", 1), ("H36.17", 2), ("28.22.H17", 3), ("000.00.17.H36.01", 5)],
)
def test_wrong_group_count_for_qcvn(text: str, count: int) -> None:
    message = _error(text, form=QCVN).message
    assert f"has {count} dot-separated group" in message and "not 4" in message
    assert "V1V2V3.Z1Z2.Y1Y2.X" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("00.00.17.H36", "bad group 1 (V1V2V3, level 4) '00': expected 3 digits"),
        ("000.0A.17.H36", "bad group 2 (Z1Z2, level 3) '0A': expected 2 digits"),
        ("000.00.170.H36", "bad group 3 (Y1Y2, level 2) '170': expected 2 digits"),
        ("000.00.17.H3", "bad group 4 (X, level 1) 'H3'"),
        ("000.00.17.236", "bad group 4 (X, level 1) '236'"),
        ("000.00.17.H366", "bad group 4 (X, level 1) 'H366'"),
    ],
)
def test_bad_qcvn_group(text: str, fragment: str) -> None:
    message = _error(text, form=QCVN).message
    assert fragment in message
    # Without an expected form these texts are still QĐ 20 syntax: only syntax is judged.
    assert parse_agency_code(text).form is QD20


def test_exception_carries_code_message_and_path() -> None:
    error = _error("vxp.saas.03")
    assert str(error).startswith("M.AgencyCode at /x: agency code 'vxp.saas.03'")


# --- check_agency_code ------------------------------------------------------------------------


def test_check_returns_none_for_valid_codes() -> None:
    assert (
        check_agency_code("000.00.00.G22", "/From/OrganId", "M.MessageHeader.From.OrganId") is None
    )
    assert check_agency_code(" H36.17 ", "/From/OrganId", "M.MessageHeader.From.OrganId") is None


def test_check_returns_an_error_finding() -> None:
    path = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/From/OrganId"
    finding = check_agency_code("vxp.saas.03", path, "M.MessageHeader.From.OrganId")
    assert isinstance(finding, Finding)
    assert finding.code == "M.MessageHeader.From.OrganId"
    assert finding.path == path
    assert finding.severity is Severity.ERROR and finding.is_error
    assert "lowercase" in finding.message


def test_check_with_expected_form() -> None:
    finding = check_agency_code("H36.17", "/To[1]/OrganId", "M.To.OrganId", form=QCVN)
    assert finding is not None
    assert "not 4" in finding.message
    assert check_agency_code("H36.17", "/To[1]/OrganId", "M.To.OrganId", form=QD20) is None


# --- properties -------------------------------------------------------------------------------

_DIGIT = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

level1_codes = st.builds(
    lambda a, b: a + b,
    st.sampled_from(_UPPER),
    st.text(alphabet=_UPPER + _DIGIT, min_size=2, max_size=2),
)
qcvn_codes = st.builds(
    lambda v, z, y, x: f"{v}.{z}.{y}.{x}",
    st.text(alphabet=_DIGIT, min_size=3, max_size=3),
    st.text(alphabet=_DIGIT, min_size=2, max_size=2),
    st.text(alphabet=_DIGIT, min_size=2, max_size=2),
    level1_codes,
)
qd20_codes = (
    st.lists(st.text(alphabet=_UPPER + _DIGIT, min_size=1, max_size=8), min_size=1, max_size=8)
    .map(".".join)
    .filter(lambda s: len(s) <= 35)
    .filter(lambda s: re.fullmatch(r"\d{3}\.\d{2}\.\d{2}\.[A-Z][A-Z0-9]{2}", s) is None)
)


@given(qcvn_codes)
def test_property_qcvn_round_trip(text: str) -> None:
    code = parse_agency_code(text)
    assert code.form is QCVN
    assert str(code) == text
    assert parse_agency_code(str(code)) == code
    assert code.level1 == text[-3:]
    assert 1 <= code.level <= 4
    ancestors = code.ancestors()
    assert len(ancestors) <= code.level - 1
    for ancestor in ancestors:
        assert ancestor.is_ancestor_of(code)
        assert ancestor.level1 == code.level1
        assert ancestor.level < code.level
        assert parse_agency_code(str(ancestor)) == ancestor
    assert (code.parent is None) == (code.level == 1)


@given(qd20_codes)
def test_property_qd20_round_trip(text: str) -> None:
    code = parse_agency_code(text)
    assert code.form is QD20
    assert str(code) == text
    assert parse_agency_code(str(code)) == code
    assert code.level == len(text.split("."))
    assert code.level1 == text.split(".")[0]
    if code.parent is None:
        assert code.level == 1
    else:
        assert code.parent.level == code.level - 1
        assert code.parent.is_ancestor_of(code)
        assert text.startswith(str(code.parent) + ".")


@given(st.one_of(qcvn_codes, qd20_codes), st.sampled_from(["", " ", "\t", "\r\n"]))
def test_property_whitespace_padding_is_ignored(text: str, pad: str) -> None:
    assert parse_agency_code(pad + text + pad) == parse_agency_code(text)


@given(st.text(max_size=60))
def test_property_any_text_parses_or_raises_invalid_agency_code(text: str) -> None:
    try:
        code = parse_agency_code(text)
    except InvalidAgencyCode as exc:
        assert exc.code == AGENCY_CODE_ERROR
        assert exc.message
        assert not is_valid_agency_code(text)
        finding = check_agency_code(text, "/p", "M.Test")
        assert finding is not None and finding.message == exc.message
    else:
        assert str(code) == text.strip()
        assert is_valid_agency_code(text)
        assert check_agency_code(text, "/p", "M.Test") is None
