"""Review: the check-character rule for list separators cannot apply to a legacy 15-digit
number (it has no check character); typed in groups it was masked before, and must stay so."""

import pytest

from linkage_hub.identifiers import mask_id_numbers_in


@pytest.mark.parametrize(
    "typed",
    ["110101,800101,123", "110101/800101/123", "110101、800101、123", "110101，800101，123"],
)
def test_a_legacy_number_typed_across_list_separators_is_masked(typed: str) -> None:
    assert mask_id_numbers_in(typed) == "1101*******1123"
