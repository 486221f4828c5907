"""The XroadVnpt-* HMAC header scheme (reference §4.2), checked against an HMAC computed here
independently with the standard library."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest

from gateway.vxp import headers as h
from gateway.vxp.wire import Envelope, codes

SECRET = "bí-mật-01"  # non-ASCII: the key is the UTF-8 bytes
PARAMS = [
    ("systemid", "00.53.W00"),
    ("timestamp", "05032024T081509+0042"),
    ("Content-Type", "application/json"),
    ("docId", "65f0c0ffee0123456789abcd"),
    ("status", "done"),
]


def _signed() -> dict[str, str]:
    return dict(h.sign(SECRET, PARAMS))


def test_known_vector() -> None:
    expected_json = (
        '{"XroadVnpt-systemid":"00.53.W00","XroadVnpt-timestamp":"05032024T081509+0042",'
        '"XroadVnpt-Content-Type":"application/json",'
        '"XroadVnpt-docId":"65f0c0ffee0123456789abcd","XroadVnpt-status":"done"}'
    )
    expected_hash = hmac.new(
        SECRET.encode("utf-8"), expected_json.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    headers = _signed()
    assert headers[h.SIGN_HEADER] == expected_json
    assert headers[h.HASH_HEADER] == expected_hash
    assert headers[h.SIGN_HEADER_KEY] == (
        "XroadVnpt-systemid;XroadVnpt-timestamp;XroadVnpt-Content-Type;"
        "XroadVnpt-docId;XroadVnpt-status"
    )
    assert headers["XroadVnpt-docId"] == "65f0c0ffee0123456789abcd"


def test_verify_round_trip_case_insensitive() -> None:
    received = {name.lower(): value for name, value in _signed().items()}
    params = h.verify(received, SECRET)
    assert params.system_id == "00.53.W00"
    assert params.get("docid") == params.get("docId") == "65f0c0ffee0123456789abcd"


def test_wrong_secret() -> None:
    with pytest.raises(h.SignatureError, match="does not match"):
        h.verify(_signed(), "another secret")


def test_tampered_header_value() -> None:
    headers = _signed()
    headers["XroadVnpt-status"] = "fail"
    with pytest.raises(h.SignatureError, match="differs"):
        h.verify(headers, SECRET)


def test_tampered_json() -> None:
    headers = _signed()
    headers[h.SIGN_HEADER] = headers[h.SIGN_HEADER].replace("done", "fail")
    headers["XroadVnpt-status"] = "fail"
    with pytest.raises(h.SignatureError, match="does not match"):
        h.verify(headers, SECRET)


def test_unsigned_extra_header_refused() -> None:
    headers = _signed()
    headers["XroadVnpt-to"] = '["000.00.00.H41"]'
    with pytest.raises(h.SignatureError, match="not signed"):
        h.verify(headers, SECRET)


@pytest.mark.parametrize("missing", [h.SIGN_HEADER, h.HASH_HEADER, h.SIGN_HEADER_KEY])
def test_missing_signature_header(missing: str) -> None:
    headers = _signed()
    del headers[missing]
    with pytest.raises(h.SignatureError, match="not signed"):
        h.verify(headers, SECRET)


def test_key_list_must_match_json() -> None:
    headers = _signed()
    headers[h.SIGN_HEADER_KEY] = "XroadVnpt-systemid"
    with pytest.raises(h.SignatureError, match="does not list"):
        h.verify(headers, SECRET)


def test_bad_timestamp_refused() -> None:
    params = [("systemid", "x"), ("timestamp", "2024-03-05T08:15:09")]
    with pytest.raises(h.SignatureError, match="ddMMyyyy"):
        h.verify(dict(h.sign(SECRET, params)), SECRET)


def test_timestamp_format() -> None:
    moment = dt.datetime(2024, 3, 5, 8, 15, 9, 42_999)
    assert h.format_timestamp(moment) == "05032024T081509+0042"
    assert h.parse_timestamp("05032024T081509+0042") == moment.replace(microsecond=42_000)


def test_hash_file_is_lowercase_sha256() -> None:
    assert h.sha256_hex(b"<edXML/>") == hashlib.sha256(b"<edXML/>").hexdigest().lower()


def test_reserved_or_repeated_parameters_refused() -> None:
    with pytest.raises(ValueError, match="reserved"):
        h.sign(SECRET, [("sign-header", "x")])
    with pytest.raises(ValueError, match="twice"):
        h.sign(SECRET, [("docId", "a"), ("docid", "b")])


def test_envelope_round_trip() -> None:
    ok = Envelope.ok({"DocId": "abc"})
    assert json.loads(ok.to_bytes()) == {
        "status": "OK", "ErrorCode": "0", "ErrorDesc": "Thanh cong", "data": {"DocId": "abc"}
    }
    fail = Envelope.from_json({"status": "FAIL", "ErrorCode": "19", "ErrorDesc": "Don vi gui"})
    assert (fail.status, fail.error_code) == ("FAIL", "19")
    with pytest.raises(ValueError):
        Envelope.from_json({"DocId": "abc"})


def test_to_codes_forms() -> None:
    assert codes('["a", "b"]') == ("a", "b")
    assert codes("a; b") == ("a", "b")
    assert codes([{"code": "a"}]) == ("a",)
    with pytest.raises(ValueError):
        codes("[1]")
