"""Numbering, notation and DocumentId as Decree 30 and QCVN 102 define them."""

import datetime as dt

from lgsp.domain import DocumentNumbering, document_id, notation


class TestNotation:
    def test_decision_has_type_and_agency_abbreviation(self):
        """A quyết định is numbered 123/QĐ-UBND."""
        assert notation("quyết định", 123, "UBND") == "123/QĐ-UBND"

    def test_official_letter_has_no_type_abbreviation(self):
        """A công văn carries only the agency abbreviation: 7816/VPCP."""
        assert notation("công văn", 7816, "VPCP") == "7816/VPCP"

    def test_document_id_joins_sender_date_and_code(self):
        """DocumentId = sender code, yyyy/MM/dd, number/notation."""
        assert (document_id("000.00.00.H56", dt.date(2023, 3, 9), "12/QĐ-UBND")
                == "000.00.00.H56,2023/03/09,12/QĐ-UBND")


class TestNumbering:
    def test_numbers_are_per_agency_and_restart_each_year(self):
        """Each agency counts from 1, independently, and again from 1 on 1 January."""
        n = DocumentNumbering()
        a, b = "000.00.00.H56", "000.00.01.H56"
        assert [n.next(a, dt.date(2022, 12, 30)) for _ in range(3)] == [1, 2, 3]
        assert n.next(b, dt.date(2022, 12, 31)) == 1
        assert n.next(a, dt.date(2023, 1, 1)) == 1
        assert n.next(a, dt.date(2022, 12, 31)) == 4
