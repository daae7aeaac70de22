"""A fuzz run of the decoder entry point a recipient uses (``decode_signed`` then
``decode_content``, and ``decode_status`` for statuses): valid events are mutated — bits flipped,
bytes replaced, inserted, cut, spliced — and whatever comes out, only ``DecodeError`` may escape.

``LGSP_FUZZ_RUNS`` sets the number of mutated inputs per event kind (default 20,000; a longer
campaign: ``LGSP_FUZZ_RUNS=1000000 python -m pytest tests/fuzz/test_decoder_fuzz.py``).
"""

from __future__ import annotations

import datetime as dt
import os
import random
from collections import Counter

from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry, SignedDocument
from lgsp.domain import Document, Signer, StatusCode, StatusEvent, StatusLayer
from lgsp.errors import DecodeError
from lgsp.signing import SignatureRole
from lgsp.signing.signature import SignatureBlock

RUNS = int(os.environ.get("LGSP_FUZZ_RUNS", "20000"))
EVENTS = EventCodec(AvroCodec(FileSchemaRegistry()))


def _document_event() -> bytes:
    document = Document(
        document_id="000.00.00.H56,2023/01/05,12/QĐ-UBND", number=12, notation="12/QĐ-UBND",
        type_name="quyết định", subject="V/v kiểm thử mờ bộ giải mã", sender="000.00.00.H56",
        recipients=("000.00.01.H56", "000.00.00.G22"), promulgation_place="Thanh Hóa",
        promulgation_date=dt.date(2023, 1, 5), signer=Signer("TM.", "Chủ tịch", "Nguyễn Văn An"),
        due_date=dt.date(2023, 2, 1))
    content = EVENTS.encode_content(document)
    at = dt.datetime(2023, 1, 5, 8, 30, tzinfo=dt.UTC)
    block = SignatureBlock(SignatureRole.AGENCY, "1f2e3d", at, b"\x5a" * 64)
    signed = SignedDocument(EVENTS.document_schema.id, content, b"\x01" * 32,
                            SignatureBlock(SignatureRole.PERSONAL, "abc", at, b"\x33" * 64), block)
    return EVENTS.encode_signed(signed)


def _status_event() -> bytes:
    return EVENTS.encode_status(StatusEvent(
        layer=StatusLayer.BUSINESS, from_code="000.00.01.H56",
        document_id="000.00.00.H56,2023/01/05,12/QĐ-UBND", sender="000.00.00.H56",
        recipient="000.00.01.H56", timestamp=dt.datetime(2023, 1, 5, 9, tzinfo=dt.UTC),
        status_code=StatusCode.REJECTED, reason="bad_signature", description="chữ ký sai",
        staff_name="Văn thư", staff_department="Sở Nội vụ"))


def _mutate(rng: random.Random, data: bytes, other: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 4, 16))):
        how = rng.randrange(6)
        at = rng.randrange(len(out)) if out else 0
        if how == 0 and out:
            out[at] ^= 1 << rng.randrange(8)
        elif how == 1 and out:
            out[at] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif how == 2:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        elif how == 3:
            del out[at:at + rng.randrange(1, 33)]
        elif how == 4:
            out = out[:at]
        else:
            cut = rng.randrange(len(other))
            out = out[:at] + bytearray(other[cut:cut + rng.randrange(1, 64)]) + out[at:]
    return bytes(out)


def _decode_document(data: bytes) -> str:
    signed = EVENTS.decode_signed(data)
    EVENTS.decode_content(signed)
    return "decoded"


def _decode_status(data: bytes) -> str:
    EVENTS.decode_status(data)
    return "decoded"


def _campaign(seed: int, valid: bytes, other: bytes, decode) -> Counter[str]:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    for _ in range(RUNS):
        data = _mutate(rng, valid, other)
        try:
            outcomes[decode(data)] += 1
        except DecodeError as exc:
            outcomes[exc.reason] += 1
        # any other exception escapes and fails the test with the input's traceback
    return outcomes


def test_mutated_document_events_raise_only_decode_error():
    outcomes = _campaign(20261121, _document_event(), _status_event(), _decode_document)
    assert sum(outcomes.values()) == RUNS
    assert outcomes["decoded"] > 0, "the mutations never left a decodable event"
    assert sum(n for k, n in outcomes.items() if k != "decoded") > RUNS // 2, outcomes


def test_mutated_status_events_raise_only_decode_error():
    outcomes = _campaign(7, _status_event(), _document_event(), _decode_status)
    assert sum(outcomes.values()) == RUNS
    assert outcomes["decoded"] > 0
    assert sum(n for k, n in outcomes.items() if k != "decoded") > RUNS // 2, outcomes
