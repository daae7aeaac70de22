"""An official document as Decree 30/2020 and edXML (QCVN 102) define it. Pure data, no I/O."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import IntEnum

from lgsp.domain.agency import AgencyCode
from lgsp.errors import LgspError

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


_TYPE_ABBREVIATIONS = frozenset(a for a in DOCUMENT_TYPES.values() if a)


@dataclass(frozen=True, slots=True)
class Notation:
    """A parsed Code (số, ký hiệu): ``123/QĐ-UBND`` → 123, ``QĐ``, ``UBND``."""

    number: int
    type_abbreviation: str | None
    """None for a công văn (``7816/VPCP-TTĐT``)."""
    issuer: str

    def __str__(self) -> str:
        if self.type_abbreviation:
            return f"{self.number}/{self.type_abbreviation}-{self.issuer}"
        return f"{self.number}/{self.issuer}"


def parse_notation(text: str) -> Notation:
    """Read a Code; ``ValueError`` saying what is wrong. A leading segment that is a known type
    abbreviation is taken as the type (a công văn whose issuer starts with one is ambiguous)."""
    number_text, slash, rest = text.partition("/")
    if not slash or not rest:
        raise ValueError(f"notation {text!r} is not <number>/<notation>, e.g. 123/QĐ-UBND")
    if not (number_text.isascii() and number_text.isdigit()) or int(number_text) < 1:
        raise ValueError(f"notation {text!r}: the number {number_text!r} is not a positive "
                         "integer")
    if any(c.isspace() or c in ",/" for c in rest):
        raise ValueError(f"notation {text!r}: the notation part must not contain spaces, commas "
                         "or slashes")
    head, dash, tail = rest.partition("-")
    if dash and tail and head in _TYPE_ABBREVIATIONS:
        return Notation(int(number_text), head, tail)
    return Notation(int(number_text), None, rest)


@dataclass(frozen=True, slots=True)
class DocumentIdParts:
    sender: str
    date: dt.date
    notation: Notation


def parse_document_id(text: str) -> DocumentIdParts:
    """Read ``<sender code>,<yyyy/MM/dd>,<Code>``; ``ValueError`` saying what is wrong."""
    parts = text.split(",")
    if len(parts) != 3:
        raise ValueError(f"DocumentId {text!r} is not <sender code>,<yyyy/MM/dd>,<number>/"
                         "<notation>")
    sender, date_text, code = parts
    try:
        AgencyCode(sender)
    except LgspError as exc:
        raise ValueError(f"DocumentId {text!r}: {exc}") from None
    try:
        year, month, day = (int(x) for x in date_text.split("/"))
        date = dt.date(year, month, day)
    except ValueError:
        raise ValueError(f"DocumentId {text!r}: {date_text!r} is not a yyyy/MM/dd date") from None
    if date_text != f"{date:%Y/%m/%d}":
        raise ValueError(f"DocumentId {text!r}: the date must be written yyyy/MM/dd")
    return DocumentIdParts(sender, date, parse_notation(code))


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
