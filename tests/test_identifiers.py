import datetime as dt

import pytest

from linkage_hub.identifiers import (
    IdentifierError,
    mask_citizen_id,
    normalise_name,
    normalise_region,
    normalise_unit_code,
    parse_citizen_id,
    region_contains,
    unit_code_region,
)


class TestCitizenId:
    @pytest.mark.parametrize("number", ["11010519491231002X", "34052419800101001X"])
    def test_valid_vectors(self, number: str) -> None:
        assert parse_citizen_id(number).number == number

    def test_legacy_15_digit_is_upgraded_and_original_kept(self) -> None:
        parsed = parse_citizen_id("612127760403123")
        assert parsed.number == "612127197604031231"
        assert parsed.given == "612127760403123"
        assert parsed.birth_date == dt.date(1976, 4, 3)

    def test_lower_case_x_and_full_width_digits_normalise(self) -> None:
        assert parse_citizen_id("11010519491231002x").number == "11010519491231002X"
        full = "１１０１０５１９４９１２３１００２Ｘ"
        assert parse_citizen_id(full).number == "11010519491231002X"

    @pytest.mark.parametrize(
        ("number", "code"),
        [
            ("110105194912310021", "checksum"),
            ("11010519491231002", "length"),
            ("1101051949123100AX", "format"),
            ("110105194902300021", "birth_date"),  # 1949-02-30
            ("612127761403123", "birth_date"),  # month 14
        ],
    )
    def test_rejections_carry_a_code(self, number: str, code: str) -> None:
        with pytest.raises(IdentifierError) as caught:
            parse_citizen_id(number)
        assert caught.value.code == code
        assert number not in caught.value.message

    def test_future_birth_date_rejected(self) -> None:
        with pytest.raises(IdentifierError):
            parse_citizen_id("11010519491231002X", today=dt.date(1949, 12, 30))

    def test_gender_from_sequence(self) -> None:
        assert parse_citizen_id("612127760403123").is_male

    def test_mask_keeps_ends(self) -> None:
        assert mask_citizen_id("230102199001011234") == "2301**********1234"


class TestUnitCode:
    @pytest.mark.parametrize(
        "code", ["91350100M000100Y43", "91350200776049653A", "123502001549897397"]
    )
    def test_valid_vectors(self, code: str) -> None:
        assert normalise_unit_code(code) == code

    def test_wrong_check_character(self) -> None:
        with pytest.raises(IdentifierError) as caught:
            normalise_unit_code("91350100M000100Y44")
        assert caught.value.code == "checksum"

    def test_forbidden_letters(self) -> None:
        with pytest.raises(IdentifierError) as caught:
            normalise_unit_code("91350100M000100I43")
        assert caught.value.code == "format"

    def test_lower_case_accepted(self) -> None:
        assert normalise_unit_code("91350100m000100y43") == "91350100M000100Y43"

    def test_embedded_region(self) -> None:
        assert unit_code_region("123502001549897397") == "350200"


class TestRegion:
    @pytest.mark.parametrize("region", ["230000", "230100", "230102"])
    def test_valid(self, region: str) -> None:
        assert normalise_region(region) == region

    @pytest.mark.parametrize(
        "region",
        # full-width and Arabic-Indic digits are digits to Python's \d, not to a division code
        ["23010", "2301000", "abcdef", "230012", "030100", "23010２", "٢٣٠١٠٠"],
    )
    def test_invalid(self, region: str) -> None:
        with pytest.raises(IdentifierError):
            normalise_region(region)

    @pytest.mark.parametrize(
        ("outer", "inner", "inside"),
        [
            ("230000", "230102", True),
            ("230100", "230102", True),
            ("230100", "230100", True),
            ("230102", "230102", True),
            ("230102", "230100", False),
            ("230100", "230200", False),
            ("230102", "230103", False),
            ("230000", "220100", False),
        ],
    )
    def test_containment(self, outer: str, inner: str, inside: bool) -> None:
        assert region_contains(outer, inner) is inside


class TestNames:
    def test_white_space_and_ideographic_space_removed(self) -> None:
        assert normalise_name(" 张\u3000三 ") == "张三"

    @pytest.mark.parametrize("dot", ["•", "・", ".", "．", "·"])
    def test_middle_dots_unified(self, dot: str) -> None:
        assert normalise_name(f"阿依古丽{dot}买买提") == "阿依古丽·买买提"

    def test_full_width_latin_folded(self) -> None:
        assert normalise_name("ＡＢＣ") == "ABC"
