"""Avro in the Confluent wire format, with the file registry's stable ids."""

import datetime as dt

import pytest

from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry, SignedDocument, frame
from lgsp.domain import Document, Signer, StatusCode, StatusEvent, StatusLayer
from lgsp.errors import DecodeError


@pytest.fixture(scope="module")
def events():
    return EventCodec(AvroCodec(FileSchemaRegistry()))


def _document():
    return Document(document_id="000.00.00.H56,2023/01/05,1/QĐ-UBND", number=1,
                    notation="1/QĐ-UBND", type_name="quyết định", subject="V/v thử nghiệm",
                    sender="000.00.00.H56", recipients=("000.00.01.H56",),
                    promulgation_place="Thanh Hóa", promulgation_date=dt.date(2023, 1, 5),
                    signer=Signer("TM.", "Chủ tịch", "Nguyễn Văn An"))


class TestWireFormat:
    def test_value_starts_with_magic_byte_and_big_endian_schema_id(self, events):
        """Byte 0 is 0, bytes 1..4 are the schema id, then the Avro body."""
        status = StatusEvent(layer=StatusLayer.BUSINESS, from_code="a", document_id="d",
                             sender="s", recipient="r", timestamp=dt.datetime.now(dt.UTC),
                             status_code=StatusCode.ARRIVED)
        data = events.encode_status(status)
        assert data[0] == 0
        assert int.from_bytes(data[1:5], "big") == events.status_schema.id == 7
        assert events.decode_status(data).status_code is StatusCode.ARRIVED

    def test_registry_ids_are_stable(self):
        """Ids are fixed in schemas/registry.json."""
        registry = FileSchemaRegistry()
        assert {(s.subject, s.version): s.id for s in registry} == {
            ("lgsp.document", 1): 1, ("lgsp.document-event", 1): 2, ("lgsp.status-event", 1): 3,
            ("lgsp.dead-letter", 1): 4, ("lgsp.document", 2): 5, ("lgsp.document-event", 2): 6,
            ("lgsp.status-event", 2): 7}

    def test_signed_document_round_trips_with_content_bytes_untouched(self, events):
        content = events.encode_content(_document())
        signed = SignedDocument(events.document_schema.id, content, b"\x01" * 32, None, None)
        decoded = events.decode_signed(events.encode_signed(signed))
        assert decoded.content == content
        assert events.decode_content(decoded) == _document()

    def test_version_1_content_is_read_by_the_version_2_reader(self, events):
        """A v1 writer's bytes decode into the v2 document (new field at its default)."""
        v1 = events.document_schema_version(1)
        content = events.encode_content(_document(), v1)
        signed = SignedDocument(v1.id, content, b"\x01" * 32, None, None)
        assert events.document_schema.version == 2
        document = events.decode_content(signed)
        assert document == _document()
        assert document.steering_document_id is None

    def test_version_2_field_survives_the_round_trip(self, events):
        import dataclasses

        steering = "000.00.00.G22,2023/01/02,5/CT-TTg"
        doc = dataclasses.replace(_document(), steering_document_id=steering)
        signed = SignedDocument(events.document_schema.id, events.encode_content(doc),
                                b"\x01" * 32, None, None)
        assert events.decode_content(signed).steering_document_id == doc.steering_document_id

    def test_unknown_content_schema_id_is_rejected_with_its_reason(self, events):
        signed = SignedDocument(77, b"\x00", b"\x01" * 32, None, None)
        with pytest.raises(DecodeError) as info:
            events.decode_content(signed)
        assert info.value.reason == "unknown_schema_id"


class TestDocumentEventVersions:
    def test_v1_record_without_carried_certificates_still_decodes(self, events):
        """document-event v1 (id 2) names the certificate by serial only: still readable, the
        signature's certificate is None (resolved in the directory by serial)."""
        at = dt.datetime(2026, 12, 4, 14, 0, tzinfo=dt.UTC)
        v1 = next(s for s in events.codec.registry.versions("lgsp.document-event")
                  if s.version == 1)
        signature = {"role": "AGENCY", "certificate_serial": "1f2e", "signed_at": at,
                     "value": b"\x01" * 64}
        data = events.codec.encode_with(v1, {
            "content_schema_id": 5, "content": b"c", "content_digest": b"\x02" * 32,
            "personal_signature": None, "agency_signature": signature})
        assert data[:5] == b"\x00\x00\x00\x00\x02"
        decoded = events.decode_signed(data)
        assert decoded.agency_signature is not None
        assert decoded.agency_signature.certificate_serial == "1f2e"
        assert decoded.agency_signature.certificate is None

    def test_v2_record_carries_the_certificate_bytes(self, events):
        """New records are written with document-event v2 (id 6), certificate included."""
        from lgsp.signing import SignatureBlock, SignatureRole

        block = SignatureBlock(SignatureRole.AGENCY, "1f2e",
                               dt.datetime(2026, 12, 4, tzinfo=dt.UTC), b"\x01" * 64,
                               b"0\x82der")
        data = events.encode_signed(SignedDocument(5, b"c", b"\x02" * 32, None, block))
        assert data[:5] == b"\x00\x00\x00\x00\x06"
        assert events.decode_signed(data).agency_signature == block


class TestBadBytes:
    @pytest.mark.parametrize(("data", "reason"), [
        pytest.param(b"", "undecodable", id="empty"),
        pytest.param(b"\x00\x00", "undecodable", id="short-header"),
        pytest.param(b"{\"json\": 1}", "undecodable", id="not-framed"),
        pytest.param(frame(99, b"\x02"), "unknown_schema_id", id="unknown-id"),
        pytest.param(frame(2, b"\x02\xff\xff"), "schema_invalid", id="truncated-body"),
        pytest.param(frame(2, b"\x00" * 40), "schema_invalid", id="garbage-body"),
    ])
    def test_bad_values_raise_decode_error_with_reason(self, events, data, reason):
        with pytest.raises(DecodeError) as info:
            events.decode_signed(data)
        assert info.value.reason == reason

    def test_trailing_bytes_are_refused(self, events):
        status = StatusEvent(layer=StatusLayer.BUSINESS, from_code="a", document_id="d",
                             sender="s", recipient="r", timestamp=dt.datetime.now(dt.UTC),
                             status_code=StatusCode.ARRIVED)
        with pytest.raises(DecodeError, match="trailing"):
            events.decode_status(events.encode_status(status) + b"\x00")

    def test_a_status_is_not_accepted_as_a_document_event(self, events):
        status = StatusEvent(layer=StatusLayer.BUSINESS, from_code="a", document_id="d",
                             sender="s", recipient="r", timestamp=dt.datetime.now(dt.UTC),
                             status_code=StatusCode.ARRIVED)
        with pytest.raises(DecodeError) as info:
            events.decode_signed(events.encode_status(status))
        assert info.value.reason == "unexpected_schema"
