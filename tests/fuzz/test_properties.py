"""Property tests (hypothesis): codec round trips, the wire framing, routing headers, agency codes,
notations and DocumentIds — valid values survive, anything else fails with the documented
exception only (DecodeError, DeliveryError, ConfigError, ValueError, CaptureError)."""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lgsp.bus import headers
from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry, SignedDocument
from lgsp.codec._wire import frame, read_header
from lgsp.codec.capture import CaptureReader
from lgsp.domain import (
    DOCUMENT_TYPES,
    Attachment,
    BusinessType,
    Document,
    Priority,
    Signer,
    StatusCode,
    StatusEvent,
    StatusLayer,
    SteeringType,
)
from lgsp.domain.agency import AgencyCode
from lgsp.domain.document import document_id, notation, parse_document_id, parse_notation
from lgsp.errors import CaptureError, ConfigError, DecodeError, DeliveryError

EVENTS = EventCodec(AvroCodec(FileSchemaRegistry()))
UTC_START, UTC_END = dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2090, 1, 1, tzinfo=dt.UTC)


def raised(call: Callable[[], object]) -> Exception | None:
    """What ``call`` raised (None if nothing): any exception but the documented one fails."""
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the assertion says which one is allowed
        return exc
    return None
FAST = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

codes = st.builds(lambda a, b, c, letter, d: f"{a:03d}.{b:02d}.{c:02d}.{letter}{d:02d}",
                  st.integers(0, 999), st.integers(0, 99), st.integers(0, 99),
                  st.sampled_from(string.ascii_uppercase), st.integers(0, 99))
issuers = st.text(alphabet=string.ascii_uppercase + "ĐƯƠÔ", min_size=1, max_size=8).filter(
    lambda s: s not in {a for a in DOCUMENT_TYPES.values() if a})
text = st.text(max_size=60)
dates = st.dates(dt.date(1990, 1, 1), dt.date(2099, 12, 31))


@st.composite
def documents(draw: st.DrawFn) -> Document:
    sender = draw(codes)
    type_name = draw(st.sampled_from(sorted(DOCUMENT_TYPES)))
    number = draw(st.integers(1, 10**6))
    issuer = draw(issuers)
    date = draw(dates)
    code = notation(type_name, number, issuer)
    return Document(
        document_id=document_id(sender, date, code), number=number, notation=code,
        type_name=type_name, subject=draw(st.text(max_size=500)), sender=sender,
        recipients=tuple(draw(st.lists(codes, min_size=1, max_size=5, unique=True))),
        promulgation_place=draw(text), promulgation_date=date,
        signer=Signer(draw(st.sampled_from(["", "TM.", "KT.", "TL.", "TUQ.", "Q."])),
                      draw(text), draw(text)),
        priority=draw(st.sampled_from(list(Priority))),
        steering_type=draw(st.sampled_from(list(SteeringType))),
        business_type=draw(st.sampled_from(list(BusinessType))),
        replaces=draw(st.none() | text), steering_document_id=draw(st.none() | text),
        due_date=draw(st.none() | dates),
        attachments=tuple(draw(st.lists(st.builds(
            Attachment, text, text, st.integers(0, 2**40), st.binary(min_size=32, max_size=32)),
            max_size=3))))


class TestCodec:
    @FAST
    @given(documents())
    def test_a_document_survives_content_and_event_encoding(self, document):
        content = EVENTS.encode_content(document)
        signed = SignedDocument(EVENTS.document_schema.id, content, b"\x07" * 32, None, None)
        decoded = EVENTS.decode_signed(EVENTS.encode_signed(signed))
        assert decoded.content == content  # the signed bytes are never re-encoded
        assert EVENTS.decode_content(decoded) == document

    @FAST
    @given(st.sampled_from([c for c in StatusCode if c is not StatusCode.REJECTED]), codes,
           codes, text, st.datetimes(UTC_START.replace(tzinfo=None),
                                     UTC_END.replace(tzinfo=None), timezones=st.just(dt.UTC)))
    def test_a_status_survives_encoding(self, code, sender, recipient, description, at):
        status = StatusEvent(layer=StatusLayer.BUSINESS, from_code=recipient,
                             document_id=f"{sender},2023/01/01,1/UBND", sender=sender,
                             recipient=recipient, timestamp=at.replace(microsecond=at.microsecond
                                                                       // 1000 * 1000),
                             status_code=code, description=description)
        assert EVENTS.decode_status(EVENTS.encode_status(status)) == status

    @FAST
    @given(st.binary(max_size=400))
    def test_arbitrary_bytes_raise_only_decode_error(self, data):
        for decode in (EVENTS.decode_signed, EVENTS.decode_status, EVENTS.decode_dead_letter):
            exc = raised(lambda decode=decode: decode(data))
            assert exc is None or (isinstance(exc, DecodeError) and exc.reason in {
                "undecodable", "schema_invalid", "unexpected_schema", "unknown_schema_id"}), exc

    @FAST
    @given(st.binary(max_size=400))
    def test_arbitrary_content_raises_only_decode_error(self, data):
        signed = SignedDocument(EVENTS.document_schema.id, data, b"\x00" * 32, None, None)
        exc = raised(lambda: EVENTS.decode_content(signed))
        assert exc is None or isinstance(exc, DecodeError), exc


class TestFraming:
    @FAST
    @given(st.integers(0, 2**31 - 1), st.binary(max_size=64))
    def test_frame_round_trips_the_schema_id(self, schema_id, body):
        data = frame(schema_id, body)
        assert read_header(data) == schema_id
        assert data[5:] == body

    @FAST
    @given(st.binary(max_size=8))
    def test_a_short_or_foreign_header_is_a_decode_error(self, data):
        exc = raised(lambda: read_header(data))
        if exc is None:
            assert len(data) >= 5
            assert data[0] == 0
        else:
            assert isinstance(exc, DecodeError), exc
            assert exc.reason == "undecodable"

    @settings(max_examples=150, deadline=None)
    @given(st.binary(max_size=600))
    def test_arbitrary_capture_files_raise_only_capture_error(self, tmp_path_factory, data):
        path = tmp_path_factory.mktemp("cap") / "x.lgspcap"
        path.write_bytes(data)
        exc = raised(lambda: list(CaptureReader(path)))
        assert exc is None or isinstance(exc, CaptureError), exc


header_values = st.none() | st.binary(max_size=40) | st.sampled_from(
    [b"document", b"status", b"000.00.00.H56", b"a,b", b"", b"H56@12", b"@", b"x@y"])
header_keys = st.sampled_from([headers.KIND, headers.ID, headers.FROM, headers.TO,
                               headers.TRACE, headers.SENT, headers.REPLAY_OF, headers.FAULT,
                               "other"])


class TestRoutingHeaders:
    @FAST
    @given(st.lists(st.tuples(header_keys, header_values), max_size=10))
    def test_any_headers_parse_or_raise_delivery_error(self, raw):
        exc = raised(lambda: headers.parse(raw))
        if exc is None:
            routing = headers.parse(raw)
            assert routing.kind in (headers.DOCUMENT, headers.STATUS)
            assert routing.to
        else:
            assert isinstance(exc, DeliveryError), exc
            assert exc.reason == "missing_routing_headers"

    @FAST
    @given(st.sampled_from([headers.DOCUMENT, headers.STATUS]), text.filter(bool), codes,
           st.lists(codes, min_size=1, max_size=4),
           st.lists(st.tuples(st.sampled_from(["LGSP-H56", "VDXP"]), st.integers(0, 2**53)),
                    max_size=3), st.none() | st.integers(0, 2**53))
    def test_built_headers_parse_back(self, kind, doc_id, sender, to, trace, sent_us):
        built = headers.build(kind, doc_id, sender, to,
                              [headers.TraceEntry(p, at) for p, at in trace], sent_us=sent_us)
        routing = headers.parse(built)
        assert (routing.kind, routing.document_id, routing.from_code, routing.to) == (
            kind, doc_id, sender, tuple(to))
        assert [(t.platform, t.at_us) for t in routing.trace] == trace
        assert routing.sent_us == sent_us


class TestAgencyCodes:
    @FAST
    @given(codes)
    def test_valid_codes_parse_and_print_unchanged(self, code):
        assert str(AgencyCode.parse(f"  {code} ")) == code

    @FAST
    @given(st.text(max_size=20))
    def test_anything_else_is_a_config_error(self, candidate):
        exc = raised(lambda: AgencyCode.parse(candidate))
        assert exc is None or (isinstance(exc, ConfigError) and "QCVN 102" in str(exc)), exc


class TestNotationsAndDocumentIds:
    @FAST
    @given(st.sampled_from(sorted(DOCUMENT_TYPES)), st.integers(1, 10**9), issuers)
    def test_a_notation_parses_back_to_its_parts(self, type_name, number, issuer):
        code = notation(type_name, number, issuer)
        parsed = parse_notation(code)
        assert (parsed.number, parsed.type_abbreviation or "", parsed.issuer) == (
            number, DOCUMENT_TYPES[type_name], issuer)
        assert str(parsed) == code

    @FAST
    @given(codes, dates, st.sampled_from(sorted(DOCUMENT_TYPES)), st.integers(1, 10**6),
           issuers)
    def test_a_document_id_parses_back(self, sender, date, type_name, number, issuer):
        code = notation(type_name, number, issuer)
        parts = parse_document_id(document_id(sender, date, code))
        assert (parts.sender, parts.date, str(parts.notation)) == (sender, date, code)

    @FAST
    @given(st.text(max_size=40))
    def test_arbitrary_text_is_a_value_error(self, candidate):
        for parse in (parse_notation, parse_document_id):
            exc = raised(lambda parse=parse: parse(candidate))
            assert exc is None or (type(exc) is ValueError and str(exc)), exc

    @pytest.mark.parametrize(("bad", "says"), [
        ("000.00.00.H56,2023/1/5,1/UBND", "yyyy/MM/dd"),
        ("000.00.00.H56,2023/02/30,1/UBND", "not a yyyy/MM/dd date"),
        ("H56,2023/01/05,1/UBND", "QCVN 102"),
        ("000.00.00.H56,2023/01/05", "is not <sender code>"),
        ("000.00.00.H56,2023/01/05,0/UBND", "positive integer"),
    ])
    def test_errors_say_what_is_wrong(self, bad, says):
        with pytest.raises(ValueError, match=says):
            parse_document_id(bad)
