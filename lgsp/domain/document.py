"""An official document as Decree 30/2020 and edXML (QCVN 102) define it. Pure data, no I/O."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import IntEnum

# Decree 30/2020 document types -> notation abbreviation ("" for công văn and thư công).
DOCUMENT_TYPES: dict[str, str] = {
    "nghị quyết": "NQ", "quyết định": "QĐ", "chỉ thị": "CT", "quy chế": "QC", "quy định": "QyĐ",
    "thông cáo": "TC", "thông báo": "TB", "hướng dẫn": "HD", "chương trình": "CTr",
    "kế hoạch": "KH", "phương án": "PA", "đề án": "ĐA", "dự án": "DA", "báo cáo": "BC",
    "biên bản": "BB", "tờ trình": "TTr", "hợp đồng": "HĐ", "công điện": "CĐ",
    "bản ghi nhớ": "BGN", "bản thỏa thuận": "BTT", "giấy ủy quyền": "GUQ", "giấy mời": "GM",
    "giấy giới thiệu": "GGT", "giấy nghỉ phép": "GNP", "phiếu gửi": "PG", "phiếu chuyển": "PC",
    "phiếu báo": "PB", "công văn": "", "thư công": "",
}


class Priority(IntEnum):
    """Độ khẩn. Khẩn and above are sent and handled immediately."""

    NORMAL = 0       # Thường
    URGENT = 1       # Khẩn
    VERY_URGENT = 2  # Thượng khẩn
    FLASH = 3        # Hỏa tốc
    FLASH_TIMED = 4  # Hỏa tốc hẹn giờ


class SteeringType(IntEnum):
    NONE = 0
    STEERING = 1           # văn bản chỉ đạo
    STEERING_REPORT = 2    # báo cáo thực hiện văn bản chỉ đạo


class BusinessType(IntEnum):
    NEW = 0
    REVOKE = 1
    UPDATE = 2
    REPLACE = 3


class Secrecy(IntEnum):
    """Độ mật. Anything but NONE must never be sent on the bus."""

    NONE = 0
    SECRET = 1        # mật
    TOP_SECRET = 2    # tối mật
    ABSOLUTE = 3      # tuyệt mật


def notation(type_name: str, number: int, issuer_abbreviation: str) -> str:
    """Số, ký hiệu: ``123/QĐ-UBND``; a công văn has no type abbreviation: ``7816/VPCP-TTĐT``."""
    try:
        abbreviation = DOCUMENT_TYPES[type_name]
    except KeyError:
        raise ValueError(f"unknown document type {type_name!r}; see DOCUMENT_TYPES") from None
    if abbreviation:
        return f"{number}/{abbreviation}-{issuer_abbreviation}"
    return f"{number}/{issuer_abbreviation}"


def document_id(sender_code: str, date: dt.date, code: str) -> str:
    """``<sender code>,<yyyy/MM/dd>,<number>/<notation>``: the same end to end."""
    return f"{sender_code},{date:%Y/%m/%d},{code}"


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    """File name, e.g. ``QD-123.pdf``."""
    content_type: str
    """MIME type."""
    size: int
    """Bytes."""
    sha256: bytes
    """SHA-256 digest of the file's content (32 bytes)."""


@dataclass(frozen=True, slots=True)
class Signer:
    authority: str
    """Authority prefix: ``""`` (own right), ``TM.``, ``KT.``, ``TL.``, ``TUQ.``, ``Q.``."""
    position: str
    """Chức vụ, e.g. ``Chủ tịch``."""
    full_name: str
    """The official's full name."""


@dataclass(frozen=True, slots=True)
class Document:
    """The signed content of an official document (what the signatures cover)."""

    document_id: str
    """``<sender code>,<yyyy/MM/dd>,<number>/<notation>``."""
    number: int
    """Restarts at 1 every 1 January, unique per issuing agency and year."""
    notation: str
    """``<number>/<type abbr>-<agency abbr>``; Code = number + notation."""
    type_name: str
    """One of ``DOCUMENT_TYPES``."""
    subject: str
    """Trích yếu, at most 500 characters."""
    sender: str
    """The issuing agency's code."""
    recipients: tuple[str, ...]
    """Codes of every recipient agency (Nơi nhận)."""
    promulgation_place: str
    promulgation_date: dt.date
    signer: Signer
    priority: Priority = Priority.NORMAL
    steering_type: SteeringType = SteeringType.NONE
    business_type: BusinessType = BusinessType.NEW
    replaces: str | None = None
    """DocumentId replaced (business type REPLACE)."""
    steering_document_id: str | None = None
    """For a report on a steering document: the DocumentId it answers (schema v2)."""
    due_date: dt.date | None = None
    secrecy: Secrecy = Secrecy.NONE
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if len(self.subject) > 500:
            raise ValueError("subject (trích yếu) is limited to 500 characters")
        if not self.recipients:
            raise ValueError(f"document {self.document_id} has no recipient")
