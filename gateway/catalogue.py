"""The error catalogue: what every code means, in English and Vietnamese, and how it is said.

Every code the gateway raises or reports is resolved here, by :func:`describe`, in one of two ways:

- an **exact entry** (:data:`CODES`): ``M.Signature``, ``R.Peer.Timeout``, ``Server.Internal``…
- a **family** built from a prefix and a path: ``N.``/``R.``/``M.``/``T.``/``W.`` followed by an
  edXML field path (``N.MessageHeader.Subject``: the schema and the reader make one code per
  field), by ``Config.<key>`` (a setting) or ``Profile.<key>`` (a legacy client profile), by
  ``Vxp.<ErrorCode>`` (the national axis's own code), ``Soap.<kind>`` (spyne's fault kinds) or
  ``Namespace.<prefix>`` (a repaired namespace declaration).

The prefixes are the field's convention: ``N.`` a required value is missing, ``R.`` a value is out
of range, ``M.`` malformed input or a broken rule, ``T.`` a value of the wrong type, ``W.`` a
repair made while reading lenient input (a warning); ``Server.`` an unexpected failure.

What a clerk reads (a SOAP fault, the legacy ErrorList, a receipt's warnings, the REST face's
``ErrorDesc``) is rendered by :func:`render` from the code, the English sentence the raise site
wrote and the location, in the language chosen for the agency (:class:`LanguagePolicy`):
``vi``, ``en`` or ``both`` (Vietnamese first). The codes themselves never change.
``docs/errors.md`` is generated from this module (``python -m gateway.catalogue``) and a test
keeps it, and the codes raised anywhere in the sources, in step with it.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "CODES",
    "FAMILIES",
    "FIELD_NAMES",
    "Entry",
    "Language",
    "LanguagePolicy",
    "describe",
    "field_name",
    "markdown",
    "render",
    "vietnamese",
]


class Language(enum.Enum):
    """The language of the sentences a clerk reads (``message_language``)."""

    VI = "vi"
    EN = "en"
    BOTH = "both"
    """Vietnamese first, then the English sentence."""


class Reader(enum.Enum):
    """Who reads a code's sentence: a clerk through the eOffice, or the gateway's operator."""

    CLERK = "clerk"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Entry:
    """One code (or one family of codes) and what it means."""

    code: str
    en: str
    """What the code means, in English."""
    vi: str
    """The same in Vietnamese: the sentence a clerk reads when the language is ``vi``/``both``."""
    reader: Reader = Reader.CLERK


_C = Reader.CLERK
_O = Reader.OPERATOR


def _entries(*rows: tuple[str, str, str, Reader]) -> dict[str, Entry]:
    table: dict[str, Entry] = {}
    for code, en, vi, reader in rows:
        if code in table:
            raise ValueError(f"{code} is catalogued twice")
        table[code] = Entry(code, en, vi, reader)
    return table


CODES: dict[str, Entry] = _entries(
    # --- reading a package ---------------------------------------------------------------------
    ("M.File", "the file cannot be read", "Không đọc được tệp", _O),
    ("M.Xml", "the input is not well-formed XML", "Dữ liệu không phải XML hợp lệ", _C),
    ("M.Xml.Truncated", "the XML ends too early", "Dữ liệu XML bị cắt cụt (kết thúc sớm)", _C),
    (
        "M.Xml.Doctype",
        "a DOCTYPE declaration is not allowed in an edXML package",
        "Gói tin edXML không được chứa khai báo DOCTYPE",
        _C,
    ),
    (
        "M.Xml.Root",
        "the root element is not <edXML>",
        "Phần tử gốc không phải <edXML>: đây không phải gói tin edXML",
        _C,
    ),
    (
        "M.Xml.Namespace",
        "the document is not namespace-well-formed",
        "Tài liệu XML khai báo không gian tên (namespace) sai",
        _C,
    ),
    (
        "R.Xml.Depth",
        "elements are nested deeper than the limit",
        "Các phần tử XML lồng nhau quá số cấp cho phép",
        _C,
    ),
    ("M.Encoding", "the package is not UTF-8", "Gói tin phải được mã hóa UTF-8", _C),
    (
        "M.Namespace",
        "the root is in the wrong namespace (the legacy eDoc dialect)",
        "Phần tử gốc thuộc không gian tên của giao thức eDoc cũ, không phải edXML",
        _C,
    ),
    (
        "W.LeadingJunk",
        "bytes before the XML declaration were removed",
        "Đã bỏ các byte thừa trước khai báo XML",
        _C,
    ),
    (
        "R.Attachment.Count",
        "more attachments than the configured limit",
        "Số tệp đính kèm vượt quá giới hạn cho phép",
        _C,
    ),
    (
        "R.Attachment.Size",
        "an attachment is larger than the configured limit",
        "Tệp đính kèm lớn hơn dung lượng cho phép",
        _C,
    ),
    (
        "R.Attachment.Decompressed",
        "a zipped attachment inflates past the configured limit",
        "Tệp đính kèm nén khi giải nén vượt quá dung lượng cho phép",
        _C,
    ),
    (
        "R.Attachment.Ratio",
        "a zipped attachment inflates too many times its size (a zip bomb)",
        "Tệp đính kèm nén có tỷ lệ giải nén vượt quá giới hạn (nghi tệp nén độc hại)",
        _C,
    ),
    (
        "M.Attachment.Base64",
        "an attachment part declared base64 is not base64",
        "Phần đính kèm khai báo mã base64 nhưng nội dung không phải base64",
        _C,
    ),
    (
        "M.Attachment.ContentTransferEncoded",
        "the attachment's base64 content is damaged or truncated",
        "Nội dung tệp đính kèm (base64) bị hỏng hoặc bị cắt cụt",
        _C,
    ),
    (
        "N.Attachment.ContentTransferEncoded",
        "an attachment has no content",
        "Tệp đính kèm không có nội dung",
        _C,
    ),
    (
        "W.Attachment.ContentTransferEncoded",
        "base64 padding inside the text: each part was decoded",
        "Nội dung base64 có ký tự đệm ở giữa (nhiều đoạn ghép lại); đã giải mã từng đoạn",
        _C,
    ),
    (
        "M.Attachment.Zip",
        "the attachment is a zip whose entry cannot be read; the zip was kept",
        "Tệp đính kèm nén zip bị hỏng, không đọc được tệp bên trong; đã giữ nguyên tệp zip",
        _C,
    ),
    (
        "W.Attachment.Zip",
        "a zip holding one file was unwrapped",
        "Tệp zip chứa một tệp đã được giải nén",
        _C,
    ),
    (
        "M.Attachment.ContentId",
        "an attachment's content id is repeated or has no manifest Reference",
        "Mã nội dung (ContentId) của tệp đính kèm bị trùng hoặc không có trong danh mục tệp",
        _C,
    ),
    (
        "W.Attachment.ContentId",
        "an attachment's content id matched its Reference after removing 'cid:' and '<>'",
        "Mã nội dung (ContentId) của tệp đính kèm đã được chuẩn hóa (bỏ 'cid:' và '<>')",
        _C,
    ),
    (
        "W.Attachment.AttachmentName",
        "the attachment's name was taken from the manifest",
        "Thiếu tên tệp đính kèm; đã lấy tên từ danh mục tệp",
        _C,
    ),
    (
        "W.Attachment.ContentType",
        "the declared content type does not match the bytes",
        "Kiểu nội dung khai báo của tệp đính kèm không khớp với nội dung thực",
        _C,
    ),
    (
        "M.edXMLManifest.Reference.ContentId",
        "a manifest Reference's content id is repeated or has no Attachment",
        "Mã nội dung (ContentId) trong danh mục tệp bị trùng hoặc không có tệp đính kèm tương ứng",
        _C,
    ),
    (
        "M.Attachment",
        "an attachment is damaged",
        "Tệp đính kèm bị hỏng",
        _C,
    ),
    ("N.Attachment", "an attachment is missing", "Thiếu tệp đính kèm", _C),
    # --- validation rules ----------------------------------------------------------------------
    ("M.Package", "the package is invalid", "Gói tin không hợp lệ", _C),
    (
        "M.Package.Kind",
        "the package is not of the kind the operation expects (document or status)",
        "Loại gói tin (văn bản hay trạng thái) không đúng với thao tác",
        _C,
    ),
    (
        "M.AgencyCode",
        "not an agency code (mã định danh) of the QCVN 102 or QĐ 20/2020 form",
        "Mã định danh không đúng cấu trúc QCVN 102 hoặc QĐ 20/2020",
        _C,
    ),
    (
        "M.MessageHeader.From.OrganId",
        "the sender's agency code is malformed",
        "Mã định danh của Cơ quan ban hành không đúng cấu trúc",
        _C,
    ),
    (
        "R.MessageHeader.From.OrganId",
        "the sender has a mailbox here: its package cannot arrive from upstream",
        "Cơ quan ban hành là đơn vị nội bộ của trục: gói tin của đơn vị này không thể đến "
        "từ trục cấp trên",
        _C,
    ),
    (
        "M.MessageHeader.To.OrganId",
        "a recipient's agency code is malformed",
        "Mã định danh của Nơi nhận không đúng cấu trúc",
        _C,
    ),
    (
        "R.MessageHeader.To.OrganId",
        "no recipient can be reached from here",
        "Không có Nơi nhận nào có hộp thư hoặc đường chuyển tiếp tại đây",
        _C,
    ),
    (
        "M.MessageHeader.To.Duplicate",
        "the same recipient is addressed twice",
        "Nơi nhận bị trùng: mỗi cơ quan chỉ được ghi một lần",
        _C,
    ),
    (
        "N.MessageHeader.PromulgationInfo.PromulgationDate",
        "the date of promulgation is missing",
        "Thiếu Ngày ban hành (định dạng yyyy/MM/dd)",
        _C,
    ),
    (
        "R.MessageHeader.PromulgationInfo.PromulgationDate",
        "the date of promulgation is in the future",
        "Ngày ban hành không được sau ngày gửi",
        _C,
    ),
    (
        "M.MessageHeader.ResponseFor.OrganId",
        "the agency code of the document answered is malformed",
        "Mã định danh của văn bản được trả lời không đúng cấu trúc",
        _C,
    ),
    (
        "N.MessageHeader.ResponseFor",
        "a status does not say which document it reports on",
        "Trạng thái không ghi văn bản được báo cáo (ResponseFor)",
        _C,
    ),
    (
        "M.MessageHeader.ResponseFor.SameAsFrom",
        "a status is addressed to its own sender",
        "Trạng thái gửi cho chính cơ quan gửi: ResponseFor phải là cơ quan có văn bản",
        _C,
    ),
    (
        "N.MessageHeader.Timestamp",
        "a status does not carry when it happened",
        "Thiếu thời điểm của trạng thái (yyyy/MM/dd HH:mm:ss)",
        _C,
    ),
    ("N.MessageHeader.StatusCode", "the status code is missing", "Thiếu Mã trạng thái", _C),
    (
        "R.MessageHeader.StatusCode",
        "the status code is not one QCVN 102 defines",
        "Mã trạng thái không thuộc danh sách QCVN 102 quy định",
        _C,
    ),
    (
        "W.MessageHeader.StatusCode",
        "the status code was normalised (e.g. 1 read as 01)",
        "Mã trạng thái đã được chuẩn hóa (ví dụ 1 thành 01)",
        _C,
    ),
    (
        "N.MessageHeader",
        "the MessageHeader is missing",
        "Thiếu phần thông tin văn bản (MessageHeader)",
        _C,
    ),
    (
        "M.MessageHeader",
        "this MessageHeader is a status: use UpdateTraces",
        "Phần MessageHeader này là trạng thái: hãy dùng UpdateTraces",
        _C,
    ),
    ("N.edXMLEnvelope", "the edXMLEnvelope is missing", "Thiếu phần bao gói edXMLEnvelope", _C),
    (
        "N.TraceHeaderList.TraceHeader.OrganId",
        "a trace hop has no agency code (the axis appends such hops)",
        "Một bước chuyển (TraceHeader) không có mã định danh",
        _C,
    ),
    (
        "M.TraceHeaderList.TraceHeader.OrganId",
        "a trace hop's agency code is malformed",
        "Mã định danh của bước chuyển (TraceHeader) không đúng cấu trúc",
        _C,
    ),
    (
        "W.TraceHeaderList.Bussiness",
        "the Bussiness block was missing or spelt 'Business'; read as QCVN 102 says",
        "Thông tin nghiệp vụ (Bussiness) thiếu hoặc viết sai; đã đọc theo QCVN 102",
        _C,
    ),
    (
        "N.TraceHeaderList.Bussiness.DocumentId",
        "a revoke or update does not name the document it changes",
        "Văn bản thu hồi/cập nhật không ghi mã văn bản bị thay đổi",
        _C,
    ),
    (
        "N.TraceHeaderList.Bussiness.BussinessDocumentInfo",
        "an update does not say what changes",
        "Văn bản cập nhật không ghi thông tin được cập nhật",
        _C,
    ),
    (
        "N.TraceHeaderList.Bussiness.ReplacementInfoList",
        "a replace does not name the replaced document",
        "Văn bản thay thế không ghi văn bản bị thay thế",
        _C,
    ),
    (
        "N.TraceHeaderList.Bussiness.ReplacementInfoList.ReplacementInfo.DocumentId",
        "a replacement entry does not name the replaced document",
        "Thông tin thay thế không ghi mã văn bản bị thay thế",
        _C,
    ),
    (
        "M.TraceHeaderList.Bussiness.BussinessDocumentInfo.ReceiverList.Receiver.OrganId",
        "an updated recipient's agency code is malformed",
        "Mã định danh của nơi nhận được cập nhật không đúng cấu trúc",
        _C,
    ),
    (
        "M.TraceHeaderList.Bussiness.ReplacementInfoList.ReplacementInfo.OrganIdList.OrganId",
        "an agency code in a replacement entry is malformed",
        "Mã định danh trong thông tin thay thế không đúng cấu trúc",
        _C,
    ),
    (
        "R.DocumentFields",
        "a document field is out of range",
        "Một trường của văn bản có giá trị không hợp lệ",
        _C,
    ),
    (
        "R.StatusFields.StatusCode",
        "the status code is not one QCVN 102 defines",
        "Mã trạng thái không thuộc danh sách QCVN 102 quy định",
        _C,
    ),
    # --- the exchange's operations ---------------------------------------------------------------
    (
        "N.Package",
        "no such package for this agency",
        "Không tìm thấy gói tin của đơn vị",
        _C,
    ),
    (
        "N.Delivery",
        "the package was never addressed to this agency",
        "Gói tin không gửi đến đơn vị này",
        _C,
    ),
    ("N.Agency", "no such agency registered here", "Không tìm thấy đơn vị đã đăng ký", _C),
    (
        "R.Agency.Parent",
        "the agency is not this one or registered under it",
        "Đơn vị không phải là đơn vị này hoặc đơn vị trực thuộc",
        _C,
    ),
    ("R.Agency.Exists", "the agency is already registered", "Đơn vị đã được đăng ký", _C),
    ("M.Agency.Exists", "the agency is already registered", "Đơn vị đã được đăng ký", _O),
    ("M.Agency.Email", "the e-mail address is not valid", "Địa chỉ thư điện tử không hợp lệ", _O),
    ("N.Agency.Name", "the agency's name is empty", "Thiếu tên đơn vị", _O),
    (
        "M.Agency.Duplicate",
        "the same agency code is on an earlier line of the import",
        "Mã đơn vị bị lặp trong tệp nhập",
        _O,
    ),
    ("M.Agency.Import", "the import file cannot be read", "Không đọc được tệp nhập đơn vị", _O),
    (
        "N.Directory.Register",
        "no enabled local agency to register upstream",
        "Không có đơn vị nào để đăng ký lên trục",
        _O,
    ),
    (
        "R.Relay.MaxAttempts",
        "the relay gave up after relay_max_attempts",
        "Trục đã ngừng gửi lại sau số lần tối đa",
        _C,
    ),
    (
        "R.Relay.MaxAge",
        "the relay gave up: older than relay_max_age_hours",
        "Trục đã ngừng gửi lại: quá thời gian tối đa",
        _C,
    ),
    ("N.Relay.Blob", "the package's bytes are missing", "Thiếu dữ liệu của gói tin", _O),
    ("M.Relay.Bug", "the connector failed unexpectedly", "Lỗi không mong đợi khi gửi", _O),
    (
        "R.Agency.Children",
        "the agency still has enabled agencies under it",
        "Đơn vị còn đơn vị trực thuộc đang hoạt động",
        _C,
    ),
    (
        "M.Permission",
        "the caller may not do this (act for another agency, read its mail)",
        "Đơn vị không có quyền thực hiện thao tác này",
        _C,
    ),
    (
        "M.GetDocumentCheckAllow",
        "the document is not addressed to the caller",
        "Văn bản không gửi đến đơn vị này nên không được nhận",
        _C,
    ),
    (
        "R.GetPending.Kind",
        "kind must be document or status",
        "Loại gói tin phải là văn bản (document) hoặc trạng thái (status)",
        _C,
    ),
    (
        "M.GetPending.Cursor",
        "the cursor was not issued by this gateway",
        "Con trỏ phân trang không do cổng này cấp",
        _C,
    ),
    (
        "R.ConfirmReceived.Outcome",
        "the outcome must be ok, relayed or failed",
        "Kết quả xác nhận phải là ok, relayed hoặc failed",
        _C,
    ),
    (
        "N.GetTraces.DocumentId",
        "give a documentId or a packageId",
        "Cần có mã văn bản (documentId) hoặc mã gói tin (packageId)",
        _C,
    ),
    ("N.DocumentId", "the documentId is required", "Thiếu mã văn bản (documentId)", _C),
    ("T.DocumentId", "the documentId is not a number", "Mã văn bản (documentId) phải là số", _C),
    (
        "T.GetTraces.TimeStamp",
        "the TimeStamp is not yyyy/MM/dd HH:mm:ss",
        "Thời điểm (TimeStamp) phải có dạng yyyy/MM/dd HH:mm:ss",
        _C,
    ),
    ("N.Status", "the SOAP Body has no Status", "Thiếu trạng thái (Status) trong thân SOAP", _C),
    ("M.Status", "not a status", "Không phải gói tin trạng thái", _C),
    ("N.Status.StatusCode", "the status code is missing", "Thiếu Mã trạng thái", _C),
    (
        "N.Manifest.Reference",
        "a manifest Reference names no MIME part",
        "Danh mục tệp ghi một tệp đính kèm không có trong yêu cầu",
        _C,
    ),
    (
        "N.Manifest.File",
        "the document carries no file: the Manifest names none and no MIME part was sent",
        "Văn bản không có tệp đính kèm: danh mục tệp rỗng và yêu cầu không có phần MIME nào",
        _C,
    ),
    (
        "N.MessageHeader.ErrorList",
        "the SOAP Header must carry an edXML:ErrorList (empty is fine)",
        "Phần đầu SOAP phải có edXML:ErrorList (có thể rỗng)",
        _C,
    ),
    # --- security ------------------------------------------------------------------------------
    (
        "M.Security.Authentication",
        "the caller could not be identified as an enabled agency",
        "Xác thực không thành công: sai mã định danh hoặc mật khẩu, hoặc đơn vị bị khóa",
        _C,
    ),
    (
        "M.Security",
        "a security check failed",
        "Kiểm tra an toàn thông tin không đạt",
        _C,
    ),
    (
        "M.Signature",
        "the package's digital signature is not accepted by the sender's policy",
        "Chữ ký số của gói tin không được chấp nhận",
        _C,
    ),
    (
        "M.Receipt",
        "not a receipt this gateway issued, or changed since",
        "Biên nhận không do cổng này cấp hoặc đã bị sửa đổi",
        _C,
    ),
    ("M.Security.Certificate", "not a certificate", "Không phải chứng thư số", _O),
    (
        "N.Security.Certificate",
        "a certificate file cannot be read",
        "Không đọc được tệp chứng thư số",
        _O,
    ),
    (
        "R.Security.TrustDomain",
        "no trust domain of that name is configured",
        "Không có miền tin cậy (trust domain) với tên này trong cấu hình",
        _O,
    ),
    ("N.Security.MasterKey", "no master key file", "Không có tệp khóa chủ (master key)", _O),
    (
        "M.Security.MasterKey",
        "the master key file does not hold a key",
        "Tệp khóa chủ (master key) không hợp lệ",
        _O,
    ),
    (
        "N.SigningKey",
        "the gateway has no signing key yet",
        "Cổng chưa có khóa ký",
        _O,
    ),
    (
        "M.SigningKey",
        "the gateway's signing key or certificate cannot be used",
        "Khóa ký hoặc chứng thư số của cổng không dùng được",
        _O,
    ),
    # --- backup and restore --------------------------------------------------------------------
    (
        "M.Backup.Engine",
        "this command backs up SQLite; PostgreSQL is backed up with pg_dump",
        "Lệnh này chỉ sao lưu SQLite; PostgreSQL sao lưu bằng pg_dump",
        _O,
    ),
    (
        "N.Backup.Database",
        "there is no database to back up",
        "Không có cơ sở dữ liệu để sao lưu",
        _O,
    ),
    (
        "M.Backup.Archive",
        "the file is not a gateway backup",
        "Tệp không phải bản sao lưu của cổng",
        _O,
    ),
    (
        "M.Backup.Manifest",
        "the backup's manifest is missing or unreadable",
        "Thiếu hoặc không đọc được bảng kê của bản sao lưu",
        _O,
    ),
    (
        "M.Backup.Hash",
        "a file of the backup does not match its hash in the manifest",
        "Tệp trong bản sao lưu không khớp mã băm trong bảng kê",
        _O,
    ),
    (
        "M.Backup.Database",
        "the restored database fails a check (integrity, audit chain, blobs)",
        "Cơ sở dữ liệu khôi phục không đạt kiểm tra",
        _O,
    ),
    (
        "R.Restore.NotEmpty",
        "restore goes only into an empty data directory",
        "Chỉ khôi phục vào thư mục dữ liệu trống",
        _O,
    ),
    # --- storage -------------------------------------------------------------------------------
    (
        "M.Blob.Changed",
        "a received file changed while it was kept",
        "Tệp nhận được đã bị thay đổi khi lưu",
        _O,
    ),
    ("M.Blob.Closed", "write to a blob already committed", "Ghi vào tệp đã lưu xong", _O),
    ("M.Blob.Write", "a file could not be stored", "Không lưu được tệp", _O),
    ("M.Blob.Root", "the blob directory cannot be used", "Không dùng được thư mục lưu tệp", _O),
    ("M.Blob.Address", "not a SHA-256 digest", "Không phải mã băm SHA-256", _O),
    (
        "M.Blob.Chunk",
        "a stored blob is missing part of its bytes",
        "Tệp lưu trữ bị thiếu một phần dữ liệu",
        _O,
    ),
    ("N.Blob", "a file is not in the store", "Không tìm thấy tệp trong kho lưu trữ", _O),
    (
        "M.Store",
        "the database could not complete the operation",
        "Cơ sở dữ liệu không thực hiện được thao tác",
        _O,
    ),
    ("M.Store.Driver", "PostgreSQL needs psycopg", "Thiếu thư viện psycopg cho PostgreSQL", _O),
    ("M.Store.Connect", "cannot connect to PostgreSQL", "Không kết nối được PostgreSQL", _O),
    (
        "R.Outbox.State",
        "the outbox item is not in a state that allows this",
        "Mục trong hàng đợi gửi không ở trạng thái cho phép thao tác này",
        _O,
    ),
    ("N.Outbox", "no such outbox item", "Không có mục này trong hàng đợi gửi", _O),
    # --- the web console and its operators -----------------------------------------------------
    ("N.Operator", "no such operator account", "Không có tài khoản người vận hành này", _O),
    (
        "M.Operator.Exists",
        "an operator of that name already exists",
        "Tài khoản người vận hành đã tồn tại",
        _O,
    ),
    (
        "M.Operator.Role",
        "the stored operator has no known role",
        "Tài khoản người vận hành có vai trò không hợp lệ",
        _O,
    ),
    (
        "R.Operator.Name",
        "an operator name is 2-64 lower-case letters, digits, '.', '_' or '-'",
        "Tên đăng nhập không hợp lệ",
        _O,
    ),
    (
        "R.Operator.Password",
        "the password is too short or not confirmed",
        "Mật khẩu không hợp lệ",
        _O,
    ),
    ("M.Console.SignIn", "wrong name or password", "Sai tên đăng nhập hoặc mật khẩu", _O),
    (
        "R.Console.Throttled",
        "too many failed sign-ins: wait before trying again",
        "Quá nhiều lần đăng nhập sai, hãy thử lại sau",
        _O,
    ),
    ("R.Operator.Role", "the role is viewer, operator or admin", "Vai trò không hợp lệ", _O),
    ("R.Console.Date", "a date is written YYYY-MM-DD", "Ngày không hợp lệ (YYYY-MM-DD)", _O),
    ("N.Console.Reason", "a cancellation needs a reason", "Cần ghi lý do hủy", _O),
    ("N.Console.File", "no file was chosen to import", "Chưa chọn tệp để nhập", _O),
    ("R.Console.File", "the uploaded file is too large", "Tệp tải lên quá lớn", _O),
    ("R.Console.Anchor", "an audit anchor is SEQ:HASH", "Mốc kiểm tra không hợp lệ (SEQ:HASH)", _O),
    (
        "M.AuditExport",
        "an audit export file is damaged or not one",
        "Tệp xuất nhật ký kiểm toán bị hỏng",
        _O,
    ),
    # --- routing and relay ---------------------------------------------------------------------
    ("R.Directory.Kind", "kind must be upstream or peer", "Loại phải là upstream hoặc peer", _O),
    (
        "R.Directory.Local",
        "the agency has a mailbox here: it is local",
        "Đơn vị có hộp thư tại đây (đơn vị nội bộ)",
        _O,
    ),
    (
        "R.Directory.Upstream",
        "no [[upstream]] of that name",
        "Không có trục cấp trên với tên này",
        _O,
    ),
    (
        "R.Peer.Answer",
        "the parent gateway's answer cannot be used",
        "Trả lời của cổng cấp trên không dùng được",
        _C,
    ),
    ("R.Peer.Http", "the parent gateway answered an HTTP error", "Cổng cấp trên trả lỗi HTTP", _C),
    (
        "R.Peer.Timeout",
        "the parent gateway did not answer in time",
        "Cổng cấp trên không trả lời kịp thời",
        _C,
    ),
    (
        "R.Peer.Network",
        "the parent gateway cannot be reached",
        "Không kết nối được cổng cấp trên",
        _C,
    ),
    (
        "R.Peer.Fault",
        "the parent gateway answered a fault (retried)",
        "Cổng cấp trên báo lỗi (sẽ gửi lại)",
        _C,
    ),
    (
        "M.Peer.Fault",
        "the parent gateway refused the package",
        "Cổng cấp trên từ chối gói tin",
        _C,
    ),
    (
        "R.Vxp.Answer",
        "the national axis's answer cannot be used",
        "Trả lời của Trục liên thông văn bản quốc gia không dùng được",
        _C,
    ),
    (
        "R.Vxp.Http",
        "the national axis answered an HTTP error",
        "Trục liên thông văn bản quốc gia trả lỗi HTTP",
        _C,
    ),
    (
        "R.Vxp.Timeout",
        "the national axis did not answer in time",
        "Trục liên thông văn bản quốc gia không trả lời kịp thời",
        _C,
    ),
    (
        "R.Vxp.Network",
        "the national axis cannot be reached",
        "Không kết nối được Trục liên thông văn bản quốc gia",
        _C,
    ),
    # --- the SOAP faces ------------------------------------------------------------------------
    (
        "R.Request.Size",
        "the request is larger than max_request_bytes",
        "Yêu cầu lớn hơn dung lượng cổng cho phép",
        _C,
    ),
    (
        "M.Http.Body",
        "the request body is malformed (bad Content-Length or chunk, or cut short)",
        "Thân yêu cầu HTTP sai định dạng (Content-Length hoặc khối chunked sai, hoặc bị cắt cụt)",
        _C,
    ),
    (
        "N.Http.ContentLength",
        "the request needs a Content-Length or a chunked body",
        "Yêu cầu thiếu Content-Length (hoặc thân dạng chunked)",
        _C,
    ),
    (
        "M.Soap.Doctype",
        "a SOAP message must not contain a DOCTYPE declaration",
        "Thông điệp SOAP không được chứa khai báo DOCTYPE",
        _C,
    ),
    (
        "M.Soap.Envelope",
        "not a SOAP envelope this service reads",
        "Không phải phong bì SOAP hợp lệ",
        _C,
    ),
    ("R.Soap.Header", "the SOAP Header is too large", "Phần đầu SOAP quá lớn", _C),
    ("M.Soap.Xml", "the request is not well-formed XML", "Yêu cầu không phải XML hợp lệ", _C),
    (
        "M.Soap.VersionMismatch",
        "the Content-Type and the envelope are of different SOAP versions",
        "Phiên bản SOAP của Content-Type và của phong bì không khớp",
        _C,
    ),
    (
        "N.Soap.Package",
        "no <package> element in the body",
        "Thiếu phần tử <package> trong thân SOAP",
        _C,
    ),
    ("M.Soap.Package", "the package is not valid base64", "Gói tin không phải base64 hợp lệ", _C),
    (
        "R.Soap.Size",
        "only SendDocument and GetPackage stream large requests",
        "Thao tác này không nhận yêu cầu lớn (chỉ SendDocument và GetPackage)",
        _C,
    ),
    ("N.Soap.Body", "the SOAP Envelope has no Body", "Phong bì SOAP không có phần thân (Body)", _C),
    ("R.SOAPAction", "unknown SOAPAction", "SOAPAction không được hỗ trợ", _C),
    (
        "R.Envelope.Size",
        "a plain SOAP request is too large: send files as attachment parts",
        "Yêu cầu SOAP quá lớn: hãy gửi tệp dưới dạng phần đính kèm (multipart/related)",
        _C,
    ),
    ("M.Server", "the gateway could not complete the request", "Cổng không xử lý được yêu cầu", _C),
    (
        "Server.Busy",
        "the gateway is at its limit (requests in flight, or the agency's rate): retry later",
        "Cổng đang quá tải (hoặc đơn vị gửi quá nhanh): hãy gửi lại sau",
        _C,
    ),
    (
        "Server.Internal",
        "an unexpected failure: quote the request id to the operator",
        "Lỗi hệ thống ngoài dự kiến: hãy báo mã yêu cầu cho quản trị viên",
        _C,
    ),
    (
        "M.Mime.Boundary",
        "multipart/related needs a boundary",
        "Yêu cầu multipart/related thiếu tham số boundary",
        _C,
    ),
    ("M.Mime.Truncated", "the multipart body ends early", "Thân multipart bị cắt cụt", _C),
    (
        "M.Mime.Headers",
        "a MIME part's headers are too long",
        "Phần đầu của một phần MIME quá dài",
        _C,
    ),
    (
        "R.Mime.Parts",
        "a multipart request has more parts than the configured limit",
        "Yêu cầu multipart có số phần vượt quá giới hạn cho phép",
        _C,
    ),
    (
        "N.Mime.ContentId",
        "an attachment part has no Content-ID",
        "Phần đính kèm không có Content-ID",
        _C,
    ),
    ("N.Mime.Root", "no SOAP envelope part", "Yêu cầu multipart không có phần phong bì SOAP", _C),
    # --- configuration and profiles (the families below cover each key) ------------------------
    ("M.Config.File", "the configuration file cannot be read", "Không đọc được tệp cấu hình", _O),
    ("M.Config.Unknown", "an unknown setting", "Khóa cấu hình không tồn tại", _O),
    (
        "N.Config.upstream",
        "no [[upstream]] is configured",
        "Chưa cấu hình trục cấp trên ([[upstream]])",
        _O,
    ),
    (
        "N.Config.route",
        "a route names nothing to match",
        "Tuyến ([[route]]) không có điều kiện nào",
        _O,
    ),
    (
        "M.Profile.File",
        "a profile file is not valid TOML",
        "Tệp hồ sơ máy khách không phải TOML hợp lệ",
        _O,
    ),
    ("M.Profile.Unknown", "an unknown profile key", "Khóa hồ sơ máy khách không tồn tại", _O),
)
"""Every code with a meaning of its own. Per-field, per-setting and per-profile-key codes are
the families of :data:`FAMILIES`."""


@dataclass(frozen=True, slots=True)
class _Prefix:
    en: str
    vi: str


_PREFIXES: dict[str, _Prefix] = {
    "N": _Prefix("a required value is missing", "thiếu thông tin bắt buộc"),
    "R": _Prefix(
        "a value is out of range or not one of the allowed values",
        "giá trị ngoài phạm vi hoặc không thuộc các giá trị cho phép",
    ),
    "M": _Prefix(
        "the value is malformed or breaks a QCVN 102 rule",
        "sai định dạng hoặc không đúng quy định QCVN 102",
    ),
    "T": _Prefix("a value of the wrong type", "sai kiểu dữ liệu"),
    "W": _Prefix("repaired while reading (a warning)", "đã được tự động sửa khi đọc (cảnh báo)"),
}

_SETTING_PREFIXES: dict[str, _Prefix] = {
    "N": _Prefix("missing", "thiếu giá trị bắt buộc"),
    "R": _Prefix("out of range", "giá trị ngoài phạm vi cho phép"),
    "M": _Prefix("malformed or contradicting another setting", "giá trị không hợp lệ"),
    "T": _Prefix("of the wrong type", "sai kiểu dữ liệu"),
    "W": _Prefix("repaired", "đã được tự động sửa"),
}

FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("N.<field path>", "the edXML field is missing or empty", "Thiếu <tên trường>"),
    (
        "R.<field path>",
        "the edXML field's value is out of range",
        "<tên trường>: giá trị ngoài phạm vi",
    ),
    ("M.<field path>", "the edXML field is malformed", "<tên trường>: sai định dạng"),
    (
        "W.<field path>",
        "the edXML field was repaired (or an unknown element dropped)",
        "<tên trường>: đã sửa khi đọc",
    ),
    ("N.Config.<key>", "a setting is missing", "Thiếu khóa cấu hình <key>"),
    ("R.Config.<key>", "a setting is out of range", "Khóa cấu hình <key>: giá trị ngoài phạm vi"),
    ("M.Config.<key>", "a setting is malformed", "Khóa cấu hình <key>: sai định dạng"),
    ("T.Config.<key>", "a setting has the wrong type", "Khóa cấu hình <key>: sai kiểu dữ liệu"),
    ("R.Profile.<key>", "a profile key is out of range", "Khóa hồ sơ <key>: giá trị ngoài phạm vi"),
    ("M.Profile.<key>", "a profile key is malformed", "Khóa hồ sơ <key>: sai định dạng"),
    ("T.Profile.<key>", "a profile key has the wrong type", "Khóa hồ sơ <key>: sai kiểu dữ liệu"),
    (
        "R.Vxp.<ErrorCode>",
        "the national axis refused the call (retried)",
        "Trục quốc gia báo lỗi <ErrorCode> (sẽ gửi lại)",
    ),
    (
        "M.Vxp.<ErrorCode>",
        "the national axis refused the package",
        "Trục quốc gia từ chối gói tin (mã lỗi <ErrorCode>)",
    ),
    (
        "M.Soap.<kind>",
        "spyne refused the request (ValidationError, …)",
        "Yêu cầu SOAP không hợp lệ (<kind>)",
    ),
    (
        "W.Namespace.<prefix>",
        "an undeclared namespace prefix was repaired",
        "Đã sửa tiền tố không gian tên <prefix> chưa khai báo",
    ),
)
"""The code families: a pattern, its meaning in English and the Vietnamese sentence's form."""


FIELD_NAMES: dict[str, str] = {
    # the envelope
    "edXML": "Gói tin edXML",
    "edXMLEnvelope": "Phong bì edXML",
    "edXMLHeader": "Phần đầu edXML",
    "edXMLBody": "Phần thân edXML",
    "edXMLManifest": "Danh mục tệp đính kèm",
    "Reference": "Mục tệp đính kèm trong danh mục",
    "version": "Phiên bản",
    "MessageHeader": "Thông tin văn bản",
    "Signature": "Chữ ký số",
    "DigitalSignature": "Chữ ký số",
    # the document's header
    "From": "Cơ quan ban hành",
    "To": "Nơi nhận",
    "OrganId": "Mã định danh",
    "OrganizationInCharge": "Cơ quan chủ quản",
    "OrganName": "Tên cơ quan",
    "OrganAdd": "Địa chỉ cơ quan",
    "Email": "Thư điện tử",
    "Telephone": "Số điện thoại",
    "Fax": "Số fax",
    "Website": "Trang thông tin điện tử",
    "DocumentId": "Mã văn bản",
    "Code": "Số và ký hiệu",
    "CodeNumber": "Số văn bản",
    "CodeNotation": "Ký hiệu văn bản",
    "PromulgationInfo": "Thông tin ban hành",
    "Place": "Địa danh",
    "PromulgationDate": "Ngày ban hành",
    "DocumentType": "Loại văn bản",
    "Type": "Mã loại văn bản",
    "TypeDetail": "Chi tiết loại văn bản",
    "TypeName": "Tên loại văn bản",
    "Subject": "Trích yếu",
    "Content": "Nội dung",
    "SignerInfo": "Người ký",
    "Competence": "Thẩm quyền ký",
    "Position": "Chức vụ người ký",
    "FullName": "Họ và tên người ký",
    "DueDate": "Hạn xử lý",
    "OtherInfo": "Thông tin khác",
    "Priority": "Độ khẩn",
    "SphereOfPromulgation": "Phạm vi ban hành",
    "TyperNotation": "Ký hiệu người đánh máy",
    "PromulgationAmount": "Số lượng bản phát hành",
    "PageAmount": "Số trang",
    "Direction": "Chỉ đạo",
    "Appendixes": "Phụ lục",
    "Appendix": "Phụ lục",
    "ReplyFors": "Văn bản trả lời",
    "ReferenceCodes": "Văn bản tham chiếu",
    "ResponseFor": "Văn bản được trả lời",
    "SteeringType": "Loại chỉ đạo",
    "ResponseForTask": "Nhiệm vụ được trả lời",
    "TaskCode": "Mã nhiệm vụ",
    "ApplicationType": "Loại ứng dụng",
    "ToPlaces": "Nơi nhận (ghi trên văn bản)",
    # traces and business
    "TraceHeaderList": "Thông tin vết xử lý",
    "TraceHeader": "Bước chuyển",
    "Timestamp": "Thời điểm",
    "Bussiness": "Thông tin nghiệp vụ",
    "Business": "Thông tin nghiệp vụ",
    "BussinessDocType": "Loại nghiệp vụ văn bản",
    "BussinessDocReason": "Lý do nghiệp vụ",
    "Paper": "Văn bản giấy",
    "BussinessDocumentInfo": "Thông tin văn bản được cập nhật",
    "DocumentInfo": "Cập nhật thông tin văn bản",
    "DocumentReceiver": "Cập nhật nơi nhận",
    "ReceiverList": "Danh sách nơi nhận được cập nhật",
    "Receiver": "Nơi nhận được cập nhật",
    "ReceiverType": "Loại cập nhật nơi nhận",
    "ReplacementInfoList": "Danh sách văn bản bị thay thế",
    "ReplacementInfo": "Văn bản bị thay thế",
    "OrganIdList": "Danh sách mã định danh",
    "StaffInfo": "Cán bộ xử lý",
    "Department": "Đơn vị xử lý",
    "DepartmentId": "Mã đơn vị xử lý",
    "Staff": "Tên cán bộ",
    "StaffId": "Mã cán bộ",
    "Mobile": "Số điện thoại di động",
    # status
    "StatusCode": "Mã trạng thái",
    "Description": "Mô tả",
    # attachments
    "AttachmentEncoded": "Tệp đính kèm",
    "Attachment": "Tệp đính kèm",
    "ContentId": "Mã nội dung tệp",
    "AttachmentName": "Tên tệp",
    "ContentType": "Kiểu nội dung tệp",
    "FieldName": "Tên trường tệp",
    "MimeType": "Kiểu MIME",
    "ContentTransferEncoded": "Nội dung tệp (base64)",
}
"""The Vietnamese name of every edXML element a code can name (QCVN 102:2016 terms)."""

_OWNED = frozenset(
    {
        "OrganId",
        "OrganName",
        "OrganAdd",
        "Email",
        "Telephone",
        "Fax",
        "Website",
        "DocumentId",
        "Code",
        "PromulgationDate",
        "Timestamp",
        "Description",
        "ContentId",
        "Place",
        "StaffInfo",
        "OrganizationInCharge",
        "Type",
        "TypeName",
        "TypeDetail",
        "version",
    }
)
"""Names that read as "<name> of <parent>" (``OrganId`` of ``From`` is the sender's code)."""
_NOT_OWNERS = frozenset({"MessageHeader", "edXML", "edXMLEnvelope", "edXMLHeader", "edXMLBody"})


def field_name(path: str) -> str | None:
    """The Vietnamese name of a dotted field path (``MessageHeader.From.OrganId`` ->
    ``Mã định danh của Cơ quan ban hành``), or None when an element in it is not an edXML one."""
    steps = [step for step in path.split(".") if step]
    if not steps or any(step not in FIELD_NAMES for step in steps):
        return None
    name = FIELD_NAMES[steps[-1]]
    if steps[-1] in _OWNED and len(steps) > 1 and steps[-2] not in _NOT_OWNERS:
        name = f"{name} của {FIELD_NAMES[steps[-2]]}"
    return name


_SPECIAL_FAMILIES = ("Config.", "Profile.", "Vxp.", "Soap.", "Namespace.")


def describe(code: str) -> Entry | None:
    """What ``code`` means, or None for a code the catalogue does not know."""
    exact = CODES.get(code)
    if exact is not None:
        return exact
    prefix, dot, rest = code.partition(".")
    meaning = _PREFIXES.get(prefix)
    if meaning is None or not dot or not rest:
        return None
    if rest.startswith("Config."):
        key = rest.removeprefix("Config.")
        return Entry(code, f"setting {key}: {meaning.en}", f"Khóa cấu hình {key}: {meaning.vi}", _O)
    if rest.startswith("Profile."):
        key = rest.removeprefix("Profile.")
        return Entry(
            code,
            f"legacy client profile key {key}: {meaning.en}",
            f"Khóa hồ sơ máy khách {key}: {meaning.vi}",
            _O,
        )
    if rest.startswith("Vxp.") and prefix in ("R", "M"):
        number = rest.removeprefix("Vxp.")
        if prefix == "R":
            return Entry(
                code,
                f"the national axis answered ErrorCode {number} (the call is retried)",
                f"Trục liên thông văn bản quốc gia báo lỗi {number} (sẽ gửi lại)",
            )
        return Entry(
            code,
            f"the national axis refused the package with ErrorCode {number}",
            f"Trục liên thông văn bản quốc gia từ chối gói tin (mã lỗi {number})",
        )
    if rest.startswith("Soap.") and prefix == "M":
        kind = rest.removeprefix("Soap.")
        return Entry(
            code,
            f"the SOAP request was refused ({kind})",
            f"Yêu cầu SOAP không hợp lệ ({kind})",
        )
    if rest.startswith("Namespace.") and prefix == "W":
        declared = rest.removeprefix("Namespace.")
        return Entry(
            code,
            f"the undeclared namespace prefix {declared!r} was repaired",
            f"Đã sửa tiền tố không gian tên {declared!r} chưa khai báo",
        )
    name = field_name(rest)
    if name is not None:
        named = f"{name} ({rest.rpartition('.')[2]})"
        vi = f"Thiếu {named}" if prefix == "N" else f"{named}: {meaning.vi}"
        return Entry(code, f"{rest.replace('.', '/')}: {meaning.en}", vi)
    if prefix == "W":
        parent = field_name(rest.rpartition(".")[0])
        unknown = rest.rpartition(".")[2]
        where = f" trong {parent}" if parent else ""
        return Entry(
            code,
            f"<{unknown}> is not part of QCVN 102:2016 and was dropped",
            f"Phần tử <{unknown}>{where} không thuộc QCVN 102:2016 và đã được bỏ qua",
        )
    return None


def vietnamese(code: str, path: str = "") -> str:
    """The Vietnamese sentence for ``code`` (with the location when there is one)."""
    entry = describe(code)
    sentence = entry.vi if entry is not None else "Lỗi"
    return f"{sentence} (vị trí {path})" if path else sentence


def render(code: str, message: str, language: Language, path: str = "") -> str:
    """The sentence a clerk reads for a code: Vietnamese, English (``message``) or both.

    ``message`` is the English sentence written where the error was raised; ``both`` puts the
    Vietnamese sentence first and keeps the English one whole after it.
    """
    if language is Language.EN:
        return message
    vi = vietnamese(code, path)
    if language is Language.VI:
        return vi
    return f"{vi}. {message}" if message else vi


@dataclass(frozen=True, slots=True)
class LanguagePolicy:
    """Which language each agency's clerks read (``message_language`` and
    ``message_language_by_agency``)."""

    default: Language = Language.BOTH
    by_agency: Mapping[str, Language] | None = None

    def for_agency(self, agency: str) -> Language:
        """The language for ``agency`` (the default for an unknown or anonymous caller)."""
        if agency and self.by_agency:
            return self.by_agency.get(agency.strip(), self.default)
        return self.default

    @classmethod
    def parse(cls, default: str, entries: Iterable[str] = ()) -> LanguagePolicy:
        """From the settings' texts: ``vi``/``en``/``both`` and ``<agency code>=<language>``
        entries. Raises ``ValueError`` naming the first text that is neither."""
        by_agency: dict[str, Language] = {}
        for entry in entries:
            code, sep, value = entry.partition("=")
            if not sep or not code.strip():
                raise ValueError(f"entry {entry!r} must read <agency code>=<vi|en|both>")
            by_agency[code.strip()] = _language(value.strip())
        return cls(_language(default.strip()), by_agency)


def _language(text: str) -> Language:
    try:
        return Language(text.lower())
    except ValueError:
        raise ValueError(f"{text!r} is not one of vi, en, both") from None


def markdown() -> str:
    """``docs/errors.md``: every code, family and field name, generated from this module."""
    lines = [
        "# Error and warning codes",
        "",
        "Generated by `python -m gateway.catalogue > docs/errors.md` from `gateway/catalogue.py`;",
        "a test fails when a code raised anywhere in `gateway/` or `legacy_adapters/` is missing",
        "here or in the catalogue. Codes are stable; the sentences around them are not.",
        "",
        "Prefixes: `N.` a required value is missing, `R.` a value is out of range, `M.` malformed",
        "input or a broken rule, `T.` a value of the wrong type, `W.` a repair made while reading",
        "(a warning), `Server.` an unexpected failure.",
        "",
        "What a clerk reads (SOAP faults, the legacy ErrorList, receipts' warnings, the REST",
        "face's ErrorDesc) is in the language of `message_language` (`vi`, `en` or `both`,",
        "Vietnamese first; default `both`), per agency with `message_language_by_agency`",
        '(`["000.00.01.H53=vi"]`). Reader: *clerk* (an eOffice user) or *operator*.',
        "",
        "## Codes",
        "",
        "| code | meaning | Tiếng Việt | reader |",
        "|---|---|---|---|",
    ]
    for code in sorted(CODES):
        entry = CODES[code]
        lines.append(f"| `{code}` | {entry.en} | {entry.vi} | {entry.reader.value} |")
    lines += [
        "",
        "## Families",
        "",
        "A family's codes are built from a path: a field path is the edXML element path without",
        "the wrappers (`MessageHeader.To.OrganId`), a key is a setting or a profile key.",
        "",
        "| pattern | meaning | Tiếng Việt |",
        "|---|---|---|",
    ]
    for pattern, en, vi in FAMILIES:
        lines.append(f"| `{pattern}` | {en} | {vi} |")
    lines += [
        "",
        "## Field names (QCVN 102:2016)",
        "",
        "| element | tên trường |",
        "|---|---|",
    ]
    for element in sorted(FIELD_NAMES):
        lines.append(f"| `{element}` | {FIELD_NAMES[element]} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - the docs page's generator
    sys.stdout.write(markdown())
