"""Enumerations of QCVN 102:2016 values (reference §2.2, §2.4, §2.7)."""

from __future__ import annotations

import enum


class StatusCode(enum.Enum):
    """Business status codes of an edXML STATUS package (always two digits on the wire)."""

    RECEIVED = "01"  # Đã đến: the QLVB software received it; the clerk has not processed it yet
    REJECTED = "02"  # Từ chối không tiếp nhận
    ACCEPTED = "03"  # Tiếp nhận, vào sổ văn bản đến
    ASSIGNED = "04"  # Lãnh đạo: phân công xử lý
    PROCESSING = "05"  # Đang xử lý văn bản đến
    FINISHED = "06"  # Hoàn thành xử lý
    TAKE_BACK_REQUESTED = "13"  # Văn thư yêu cầu lấy lại văn bản (sent by the original sender)
    CHANGE_ACCEPTED = "15"  # Đồng ý yêu cầu cập nhật, lấy lại, thu hồi
    CHANGE_REJECTED = "16"  # Từ chối yêu cầu cập nhật, lấy lại, thu hồi

    @property
    def vietnamese(self) -> str:
        """The wording a clerk knows, from the VPCP sample descriptions."""
        return _STATUS_VI[self]


_STATUS_VI = {
    StatusCode.RECEIVED: "Đã đến",
    StatusCode.REJECTED: "Từ chối không tiếp nhận",
    StatusCode.ACCEPTED: "Tiếp nhận, vào sổ văn bản đến",
    StatusCode.ASSIGNED: "Phân công xử lý",
    StatusCode.PROCESSING: "Đang xử lý",
    StatusCode.FINISHED: "Hoàn thành xử lý",
    StatusCode.TAKE_BACK_REQUESTED: "Yêu cầu lấy lại văn bản",
    StatusCode.CHANGE_ACCEPTED: "Đồng ý yêu cầu cập nhật, lấy lại",
    StatusCode.CHANGE_REJECTED: "Từ chối yêu cầu cập nhật, lấy lại",
}


class BusinessDocType(enum.IntEnum):
    """``Bussiness/BussinessDocType``: what a document package does to the exchange."""

    NEW = 0  # văn bản mới
    REVOKE = 1  # thu hồi
    UPDATE = 2  # cập nhật
    REPLACE = 3  # thay thế


class Priority(enum.IntEnum):
    """``OtherInfo/Priority`` (độ khẩn) as edXML numbers it (not Bkav's internal 1..5 table)."""

    NORMAL = 0  # thường
    URGENT = 1  # khẩn
    VERY_URGENT = 2  # thượng khẩn
    EXPRESS = 3  # hỏa tốc
    EXPRESS_TIMED = 4  # hỏa tốc hẹn giờ


class SteeringType(enum.IntEnum):
    """``SteeringType``. 0 appears in SDK-derived traffic with no documented meaning; accepted."""

    UNSPECIFIED = 0
    NOT_DIRECTIVE = 1  # không phải chỉ đạo
    DIRECTIVE = 2  # chỉ đạo
    DIRECTIVE_REPORT = 3  # báo cáo chỉ đạo


class ReceiverType(enum.IntEnum):
    """``BussinessDocumentInfo/ReceiverList/Receiver/ReceiverType`` in an update package."""

    REMOVED = 0
    ADDED = 1
