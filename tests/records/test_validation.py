"""The fast row validator: identifiers, codes, dates, money; agreement with the models."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from linkage_hub.domain import Dataset
from linkage_hub.identifiers import parse_citizen_id
from linkage_hub.keys import Keyring
from linkage_hub.records import fields
from linkage_hub.records.datasets import SPECS, spec_for
from linkage_hub.records.validation import RowValidator
from linkage_hub.settings import Settings
from tests.records import factory as f

TODAY = dt.date(2026, 11, 27)


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring(Settings(data_dir=tmp_path, record_key_secret="s" * 32))


def opened(keyring: Keyring, staged: Any) -> tuple[Any, ...]:
    """A staged person row with its encrypted ID number columns (5, 6) opened."""
    row = list(staged)
    for i in (5, 6):
        if row[i] is not None:
            assert not str(row[i]).isdigit() and str(row[i]).startswith("v1:")
            row[i] = keyring.reveal_id(row[i])
    return tuple(row)


def validate(keyring: Keyring, dataset: Dataset, row: dict[str, Any], **kw: Any) -> Any:
    return RowValidator(spec_for(dataset), keyring, today=TODAY, **kw).record(row, 1)


class TestIdNumbers:
    def test_forms_and_errors(self, keyring: Keyring) -> None:
        cases = {
            "11010519491231002X": ("11010519491231002X", None),
            "11010519491231002x": ("11010519491231002X", "11010519491231002x"),
            "612127760403123": ("612127197604031231", "612127760403123"),
            "３４０５２４１９８００１０１００１Ｘ": (
                "34052419800101001X",
                "３４０５２４１９８００１０１００１Ｘ",
            ),
        }
        for given, (number, shown) in cases.items():
            staged = validate(keyring, Dataset.roster, f.roster(1, id_number=given))
            assert not isinstance(staged, list), given
            assert opened(keyring, staged)[5:7] == (number, shown)
            assert staged[4] == keyring.person_key(number)
        for bad, code in (
            ("110105194912310021", "checksum"),
            ("110105194902300028", "birth_date"),
            ("110105209912310028", "birth_date"),
            ("1101051949123", "length"),
        ):
            errors = validate(keyring, Dataset.roster, f.roster(1, id_number=bad))
            assert [(e.field, e.code) for e in errors] == [("id_number", code)], bad
            assert all(bad not in e.message for e in errors)

    def test_fast_path_agrees_with_the_full_parser(self, keyring: Keyring) -> None:
        for n in range(0, 3000, 7):
            number = f.id_number(n, born=f"19{50 + n % 50:02d}0{1 + n % 9}1{n % 9}")
            staged = validate(keyring, Dataset.roster, f.roster(1, id_number=number))
            assert opened(keyring, staged)[5] == parse_citizen_id(number, today=TODAY).number

    def test_keys_are_the_keyed_hmac(self, keyring: Keyring) -> None:
        secret = b"s" * 32
        version = keyring.current  # HMAC-SHA256 under the ID key version's derived key
        expected = hmac.new(version._mac_key, b"11010519491231002X", hashlib.sha256)
        assert keyring.person_key("11010519491231002X") == expected.hexdigest()[:32]
        record = hmac.new(secret, b"roster\x1fA\x1fB", hashlib.sha256).hexdigest()[:32]
        assert keyring.record_key("roster", "A", "B") == record

    def test_long_secrets_are_hashed_as_hmac_does(self, tmp_path: Path) -> None:
        secret = "k" * 100
        ring = Keyring(Settings(data_dir=tmp_path, record_key_secret=secret))
        expected = hmac.new(secret.encode(), b"units\x1fU", hashlib.sha256).hexdigest()[:32]
        assert ring.record_key("units", "U") == expected


class TestFields:
    def test_names_normalised_for_comparison_kept_for_display(self, keyring: Keyring) -> None:
        for shown in (
            "阿依古丽•买买提",
            "阿依古丽・买买提",
            "阿依古丽．买买提",
            " 阿依古丽 · 买买提",
        ):
            staged = validate(keyring, Dataset.roster, f.roster(1, name=shown))
            assert staged[8] == shown and staged[9] == "阿依古丽·买买提"

    def test_money(self) -> None:
        assert fields.money(Decimal("8532.5")) == "8532.50"
        assert fields.money("0.10") == "0.10"
        assert fields.money(12) == "12.00"
        for bad in ("8532.505", "-1", "abc", "NaN", 1.5, True, "1e30"):
            with pytest.raises(fields.FieldInvalid):
                fields.money(bad)

    def test_dates_periods_counts_booleans(self) -> None:
        assert fields.date("2024-02-29") == "2024-02-29"
        for bad in ("2023-02-29", "20240101", "2024-1-01", 20240101):
            with pytest.raises(fields.FieldInvalid):
                fields.date(bad)
        assert fields.period("2026-10") == "2026-10"
        with pytest.raises(fields.FieldInvalid):
            fields.period("2026-13")
        with pytest.raises(fields.FieldInvalid):
            fields.count(True)
        fields.not_future("2026-12", TODAY)  # next month: pay prepared ahead
        with pytest.raises(fields.FieldInvalid):
            fields.not_future("2027-01", TODAY)
        assert fields.count_text("12") == 12
        with pytest.raises(fields.FieldInvalid):
            fields.boolean("true")
        assert fields.boolean_text("false") is False


class TestFuturePeriods:
    """A payroll line of a month after next is refused wherever it comes from (a batch row, a
    single PUT, whose period is the record's); a delete of one is not: a line pushed before
    the hub refused them must be removable."""

    def test_a_row_of_a_period_after_next_month_is_refused(self, keyring: Keyring) -> None:
        for scope in (None, "2062-11"):
            line = f.payroll(1, period="2062-11")
            staged = validate(keyring, Dataset.payroll, line, period=scope)
            assert isinstance(staged, list)
            assert [(e.row, e.field, e.code) for e in staged] == [(1, "period", "future")]
        staged = validate(keyring, Dataset.payroll, f.payroll(1, period="2026-12"), period=None)
        assert not isinstance(staged, list)

    def test_a_delete_of_one_is_not(self, keyring: Keyring) -> None:
        validator = RowValidator(spec_for(Dataset.payroll), keyring, today=TODAY)
        key = {"period": "2062-11", "id_number": f.id_number(1), "unit_code": f.unit_code(1)}
        assert not isinstance(validator.delete(key, 1), list)


SAMPLES: dict[Dataset, dict[str, Any]] = {
    Dataset.units: f.unit(1),
    Dataset.quotas: {"unit_code": f.unit_code(1), "establishment_type": "worker", "approved": 3},
    Dataset.leader_posts: {"unit_code": f.unit_code(1), "level": "principal", "approved": 1},
    Dataset.roster: f.roster(1),
    Dataset.cadres: f.cadre(1),
    Dataset.employment: f.employment(1),
    Dataset.payroll: f.payroll(1),
}
BREAKS = [
    ("unknown", {"colour": "red"}),
    ("null_required", None),
    ("bad_enum", "status"),
    ("bad_date", "2020-13-01"),
]


class TestAgreementWithTheModels:
    """The models document the contract; the fast validator must accept and refuse alike."""

    @pytest.mark.parametrize("dataset", list(SPECS))
    def test_valid_sample(self, keyring: Keyring, dataset: Dataset) -> None:
        sample = SAMPLES[dataset]
        spec = spec_for(dataset)
        spec.input_model.model_validate(sample)
        assert not isinstance(validate(keyring, dataset, sample), list)

    @pytest.mark.parametrize("dataset", list(SPECS))
    def test_each_field_broken(self, keyring: Keyring, dataset: Dataset) -> None:
        spec = spec_for(dataset)
        sample = SAMPLES[dataset]
        broken: list[dict[str, Any]] = [{**sample, "colour": "red"}]
        for field in spec.fields:
            if field.required:
                broken.append({k: v for k, v in sample.items() if k != field.name})
            broken.append({**sample, field.name: ["a list"]})
        for row in broken:
            with pytest.raises(ValidationError):
                spec.input_model.model_validate(row)
            assert isinstance(validate(keyring, dataset, row), list), row


class TestFastPath:
    """The fast path for person rows must stage exactly what the full path stages."""

    def test_same_tuples(self, keyring: Keyring) -> None:
        rows: dict[Dataset, list[dict[str, Any]]] = {
            Dataset.roster: [f.roster(i, exited_on="2020-01-0" + str(1 + i % 9)) for i in range(9)],
            Dataset.cadres: [f.cadre(i, civil_servant_registered=i % 2 == 0) for i in range(5)]
            + [{k: v for k, v in f.cadre(9).items() if k != "civil_servant_registered"}],
            Dataset.employment: [f.employment(i, status_on=None) for i in range(5)],
            Dataset.payroll: [f.payroll(i, gross_pay=str(1000 + i)) for i in range(5)]
            + [{k: v for k, v in f.payroll(8).items() if k != "period"}],
        }
        for dataset, samples in rows.items():
            validator = RowValidator(spec_for(dataset), keyring, today=TODAY, period="2026-10")
            for n, row in enumerate(samples, 1):
                fast = validator._fast_person(row, n)
                assert fast is not None, row
                assert opened(keyring, fast) == opened(keyring, validator._record(row, n))

    def test_anything_unusual_takes_the_full_path(self, keyring: Keyring) -> None:
        validator = RowValidator(spec_for(Dataset.roster), keyring, today=TODAY)
        for row in (
            f.roster(1, id_number="11010519491231002x"),
            f.roster(1, id_number=f.legacy_id(1)),
            f.roster(1, status=None),
            f.roster(1, exited_on=None) | {"colour": 1},
            f.roster(1, name=""),
        ):
            assert validator._fast_person(row, 1) is None


class TestNdjsonLines:
    def test_blank_padded_and_bad_lines(self) -> None:
        import io

        from linkage_hub.records.parsing import is_bad_line, ndjson_rows

        body = b'{"a": 1}\n\n  {"b": 2.50}\r\n{"c": 3} x\n[1,\n\xff\n'
        rows = list(ndjson_rows(io.BytesIO(body)))
        assert [n for n, _ in rows] == [1, 3, 4, 5, 6]
        assert rows[0][1] == {"a": 1} and rows[1][1] == {"b": Decimal("2.50")}
        assert [is_bad_line(v) for _, v in rows] == [False, False, True, True, True]

    def test_what_is_not_json_is_a_bad_line_never_an_error(self) -> None:
        import io

        from linkage_hub.records.parsing import is_bad_line, ndjson_rows

        # a byte-order mark is dropped before the body's first line only
        bad = [b"[" * 5000 + b"]" * 5000, b"\xef\xbb\xbf{}", b"\xff{}", b'{"a": 1} x']
        good = [b'{"n": 123456789012345678901234567890, "e": 1e400, "d": -0.0, "k": 1, "k": 2}']
        # msgspec refuses a lone surrogate escape; the standard library's decoder reads it, so
        # the field check can name it (tests/security/test_hostile_input.py).
        odd = [b'{"a": "\\ud800"}']
        rows = list(ndjson_rows(io.BytesIO(b"\n".join(bad + good + odd) + b"\n \t\n")))
        assert [n for n, _ in rows] == [1, 2, 3, 4, 5, 6]
        assert [is_bad_line(v) for _, v in rows] == [True] * 4 + [False, False]
        assert rows[4][1] == {
            "n": 123456789012345678901234567890,
            "e": Decimal("1e400"),
            "d": Decimal("-0.0"),
            "k": 2,
        }
        assert rows[5][1] == {"a": "\ud800"}
