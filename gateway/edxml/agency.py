"""Agency codes (mã định danh) in the QCVN 102:2016 and the QĐ 20/2020 forms (reference §3).

- QCVN 102:2016: exactly four groups ``V1V2V3.Z1Z2.Y1Y2.X`` read right to left. ``X`` is the
  level-1 code (``H36``), ``Y`` level 2, ``Z`` level 3, ``V`` level 4: ``000.00.17.H36``.
- QĐ 20/2020: at most 35 characters of ``0-9``, ``A-Z`` and ``.``, in groups read left to right;
  the leftmost group is the level-1 code: ``H36.17``.

A text that matches the QCVN pattern is a QCVN code; otherwise it is a QĐ 20 code if it has that
syntax; otherwise it is invalid. Only syntax is checked: whether an agency exists is for the axis's
agency list to say (public code carries invented codes, §7 item 16).

There is deliberately no conversion between the forms. The observed correspondence
(``000.00.17.H36`` ↔ ``H36.17``) is only an inferred rule; the pair must come from the axis
(``getAgenciesListQD20`` returns both ``code`` and ``code102``), never be computed here.

Codes are never uppercased for the caller: lowercase text such as ``vxp.saas.03`` (a VXP test
systemId) is a different identifier, and quietly "fixing" it would route to the wrong place.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from gateway.errors import Finding, InvalidAgencyCode, Severity

AGENCY_CODE_ERROR = "M.AgencyCode"
"""Error code of every syntax failure raised by :func:`parse_agency_code`."""

QD20_MAX_LENGTH = 35

_ALLOWED = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.")
_QCVN = re.compile(r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][A-Z0-9]{2}")
_LEVEL1 = re.compile(r"[A-Z][A-Z0-9]{2}")

# QCVN groups as written (left to right): name, level, pattern, what a human should see.
_QCVN_GROUPS = (
    ("V1V2V3", 4, re.compile(r"[0-9]{3}"), "3 digits"),
    ("Z1Z2", 3, re.compile(r"[0-9]{2}"), "2 digits"),
    ("Y1Y2", 2, re.compile(r"[0-9]{2}"), "2 digits"),
    ("X", 1, _LEVEL1, "a level-1 code such as H36"),
)

_QCVN_SHAPE = "the QCVN 102:2016 form V1V2V3.Z1Z2.Y1Y2.X (e.g. 000.00.17.H36)"
_QD20_SHAPE = "the QĐ 20/2020 form (e.g. H36.17)"
GRAMMAR_DOC = "docs/agency-codes.md"
"""Where the full grammar of both forms is written (findings point there, not repeat it)."""
_ANY_SHAPE = (
    f"the QCVN 102:2016 form (e.g. 000.00.17.H36) or the QĐ 20/2020 form (e.g. H36.17); "
    f"the grammar is in {GRAMMAR_DOC}"
)
_REGISTRABLE_LEVEL1 = re.compile(r"[A-Z][A-Z0-9][0-9]")
"""A level-1 code an agency can be registered under: a letter (G ministries, H provinces, K
councils, A Party bloc, ...), a letter or digit, and a digit (``H36``, ``G22``, ``JB2``)."""
_SYSTEM_ID = re.compile(r"[A-Za-z0-9]+(?:[.\-_][A-Za-z0-9]+)*")
SYSTEM_ID_MAX_LENGTH = 64

# How producers spell a missing value (Java "null", Python "None"). Only the non-uppercase
# spellings are caught, so this improves a message and never rejects a syntactically valid code.
_PLACEHOLDERS = frozenset({"null", "none", "nil", "undefined", "nan"})


class AgencyCodeForm(enum.Enum):
    """Which regulation an agency code is written under."""

    QCVN102 = "QCVN 102:2016"
    QD20 = "QĐ 20/2020"


@dataclass(frozen=True, slots=True)
class AgencyCode:
    """A syntactically valid agency code. Build it with :func:`parse_agency_code`.

    ``groups`` are as written, left to right, for both forms.
    """

    text: str
    form: AgencyCodeForm
    groups: tuple[str, ...]

    def __post_init__(self) -> None:
        # Guards direct construction: an AgencyCode in hand is always well formed.
        problem = _form_problem(self.text, self.form)
        if problem is None and self.groups != tuple(self.text.split(".")):
            problem = f"groups {self.groups!r} do not match the text {_show(self.text)}"
        if problem is not None:
            raise InvalidAgencyCode(AGENCY_CODE_ERROR, problem)

    def __str__(self) -> str:
        return self.text

    @property
    def level(self) -> int:
        """1 for a ministry or province, deeper units count up (QCVN: deepest non-zero group)."""
        if self.form is AgencyCodeForm.QD20:
            return len(self.groups)
        # Gaps are real (``001.00.00.H47``), so the deepest non-zero group decides, not the count.
        for index, group in enumerate(self.groups[:3]):
            if _nonzero(group):
                return 4 - index
        return 1

    @property
    def level1(self) -> str:
        """The level-1 code (mã cấp 1), e.g. ``H36`` or ``G22``."""
        if self.form is AgencyCodeForm.QD20:
            return self.groups[0]
        return self.groups[3]

    @property
    def parent(self) -> AgencyCode | None:
        """The code one level up, or None for a level-1 code.

        QCVN zeroes the deepest non-zero group (which may skip levels: ``001.00.00.H47`` goes
        straight to ``000.00.00.H47``). QĐ 20 drops the last group; the result keeps the QĐ 20
        form even in the odd case where its text would also match the QCVN pattern.
        """
        if self.level == 1:
            return None
        if self.form is AgencyCodeForm.QD20:
            groups = self.groups[:-1]
        else:
            index = 4 - self.level
            groups = (
                *self.groups[:index],
                "0" * len(self.groups[index]),
                *self.groups[index + 1 :],
            )
        return AgencyCode(".".join(groups), self.form, groups)

    def ancestors(self) -> tuple[AgencyCode, ...]:
        """Parent, grandparent, ... up to the level-1 code (empty for a level-1 code)."""
        chain: list[AgencyCode] = []
        node = self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return tuple(chain)

    def is_ancestor_of(self, other: AgencyCode) -> bool:
        """True if ``other`` sits strictly below this code; codes in different forms never match.

        Comparing across forms would need the conversion this module refuses to guess.
        """
        return self.form is other.form and self in other.ancestors()


def parse_agency_code(
    text: str, *, form: AgencyCodeForm | None = None, path: str = ""
) -> AgencyCode:
    """Parse an agency code, stripping surrounding whitespace.

    With ``form=None`` the form is detected (QCVN 102 first). Pass a form where the field allows
    only one, e.g. QCVN 102 for an OrganId the Bkav axis will check (§7 item 15); the messages
    then explain what is wrong against that form.

    Raises :class:`InvalidAgencyCode` with code ``M.AgencyCode`` and a sentence naming the
    expected form and the fault.
    """
    stripped = text.strip()
    if form is None:
        detected = _detect(stripped)
        if detected is None:
            raise InvalidAgencyCode(AGENCY_CODE_ERROR, _explain_any(stripped), path)
        form = detected
    else:
        problem = _form_problem(stripped, form)
        if problem is None and form is AgencyCodeForm.QD20 and _QCVN.fullmatch(stripped):
            problem = (
                f"agency code {_show(stripped)} is in {_QCVN_SHAPE}, "
                f"but {_QD20_SHAPE} is expected here"
            )
        if problem is not None:
            raise InvalidAgencyCode(AGENCY_CODE_ERROR, problem, path)
    return AgencyCode(stripped, form, tuple(stripped.split(".")))


def is_valid_agency_code(text: str, *, form: AgencyCodeForm | None = None) -> bool:
    """True if :func:`parse_agency_code` would accept ``text``."""
    try:
        parse_agency_code(text, form=form)
    except InvalidAgencyCode:
        return False
    return True


def check_agency_code(
    text: str, path: str, code: str, *, form: AgencyCodeForm | None = None
) -> Finding | None:
    """Validate one code for a package validator: an error Finding under ``code``, or None.

    ``code`` is the caller's field-specific error code, e.g. ``M.MessageHeader.From.OrganId``.
    """
    try:
        parse_agency_code(text, form=form, path=path)
    except InvalidAgencyCode as exc:
        return Finding(code, path, exc.message, Severity.ERROR)
    return None


def check_registrable(text: str, *, system: bool = False, path: str = "code") -> str:
    """The code to register a local agency (or, with ``system``, a system) under, stripped.

    An agency's code must be a QCVN 102 code, or a QĐ 20 code whose level-1 group is a level-1
    code (``ABC`` is QĐ 20 syntax, but no level-1 code: letters only). A VXP systemId such as
    ``vxp.saas.03`` or ``00.53.W00`` is no agency code: it is registered as a system
    (``system=True``: letters, digits, and ``.``, ``-`` or ``_`` between them).
    Raises :class:`InvalidAgencyCode` (``M.AgencyCode``) with a short sentence.
    """
    stripped = text.strip()
    if system:
        if len(stripped) <= SYSTEM_ID_MAX_LENGTH and _SYSTEM_ID.fullmatch(stripped):
            return stripped
        raise InvalidAgencyCode(
            AGENCY_CODE_ERROR,
            f"system id {_show(stripped)} is not letters and digits in groups separated by "
            f"'.', '-' or '_' (at most {SYSTEM_ID_MAX_LENGTH} characters), e.g. vxp.saas.03",
            path,
        )
    code = parse_agency_code(stripped, path=path)
    if code.form is AgencyCodeForm.QD20 and not _REGISTRABLE_LEVEL1.fullmatch(code.level1):
        raise InvalidAgencyCode(
            AGENCY_CODE_ERROR,
            f"agency code {_show(stripped)} does not start with a level-1 code such as H36 "
            f"or G22 (a VXP systemId is registered as a system); the grammar is in {GRAMMAR_DOC}",
            path,
        )
    return code.text


def _detect(text: str) -> AgencyCodeForm | None:
    if _QCVN.fullmatch(text):
        return AgencyCodeForm.QCVN102
    if _form_problem(text, AgencyCodeForm.QD20) is None:
        return AgencyCodeForm.QD20
    return None


def _form_problem(text: str, form: AgencyCodeForm) -> str | None:
    """Why ``text`` is not a code of ``form``, or None when it is."""
    shape = _QCVN_SHAPE if form is AgencyCodeForm.QCVN102 else _QD20_SHAPE
    problem = _character_problem(text, shape)
    if problem is not None:
        return problem
    groups = text.split(".")
    if form is AgencyCodeForm.QD20:
        if len(text) > QD20_MAX_LENGTH:
            return _too_long(text, _QD20_SHAPE)
        return _empty_group_problem(text, groups, _QD20_SHAPE)
    if len(groups) != 4:
        return (
            f"agency code {_show(text)} has {len(groups)} dot-separated group"
            f"{'' if len(groups) == 1 else 's'}, not 4; expected {_QCVN_SHAPE}"
        )
    for number, (group, (name, level, pattern, wanted)) in enumerate(
        zip(groups, _QCVN_GROUPS, strict=True), start=1
    ):
        if not pattern.fullmatch(group):
            return (
                f"agency code {_show(text)} has a bad group {number} ({name}, level {level}) "
                f"{group!r}: expected {wanted} ({_QCVN_SHAPE})"
            )
    return None


def _explain_any(text: str) -> str:
    """The sentence for a text that is in neither form."""
    problem = _character_problem(text, _ANY_SHAPE)
    if problem is not None:
        return problem
    if len(text) > QD20_MAX_LENGTH:
        return _too_long(text, _ANY_SHAPE)
    # Any other text of allowed characters is a QĐ 20 code, so an empty group is what is left.
    problem = _empty_group_problem(text, text.split("."), _ANY_SHAPE)
    return problem or f"agency code {_show(text)} is not in {_ANY_SHAPE}"


def _character_problem(text: str, shape: str) -> str | None:
    if not text:
        return f"agency code is empty; expected {shape}"
    if text.lower() in _PLACEHOLDERS and text != text.upper():
        return (
            f"agency code {_show(text)} is a placeholder for a missing value, not a code; "
            f"expected {shape}"
        )
    for position, char in enumerate(text, start=1):
        if char in _ALLOWED:
            continue
        if "a" <= char <= "z":
            hint = (
                "; a VXP systemId is not an agency code"
                if text.lower().startswith("vxp.")
                else ""
            )
            return (
                f"agency code {_show(text)} has the lowercase letter {char!r} at position "
                f"{position} (codes are uppercase and not uppercased for you){hint}; "
                f"expected {shape}"
            )
        return (
            f"agency code {_show(text)} has the character {char!r} at position {position}; "
            f"only 0-9, A-Z and '.' are allowed; expected {shape}"
        )
    return None


def _too_long(text: str, shape: str) -> str:
    return (
        f"agency code {_show(text)} is {len(text)} characters long, more than the "
        f"{QD20_MAX_LENGTH} a QĐ 20/2020 code allows; expected {shape}"
    )


def _empty_group_problem(text: str, groups: list[str], shape: str) -> str | None:
    for number, group in enumerate(groups, start=1):
        if not group:
            return (
                f"agency code {_show(text)} has an empty group {number} "
                f"(a leading, trailing or doubled '.'); expected {shape}"
            )
    return None


def _nonzero(group: str) -> bool:
    return group.strip("0") != ""


def _show(text: str, limit: int = 48) -> str:
    """Quote the offending text, cut short so hostile input cannot flood a SOAP fault."""
    if len(text) > limit:
        return repr(text[:limit]) + f"… ({len(text)} characters)"
    return repr(text)
