"""Row validation for batches: a plain dict in, a staged tuple (or the row's errors) out.

Built once per batch from the dataset's :class:`FieldSpec` list; no Pydantic object per row
(a million rows must validate in seconds). Identifiers are validated and normalised as
DOMAIN.md says; the staged tuple carries the keyed ``person_key`` and opaque ``record_key``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from linkage_hub.clock import next_month
from linkage_hub.errors import FieldError, safe_name
from linkage_hub.identifiers import IdentifierError, normalise_name, parse_citizen_id
from linkage_hub.keys import Keyring
from linkage_hub.records import fields
from linkage_hub.records.datasets import DatasetSpec
from linkage_hub.records.fields import FieldInvalid

Staged = tuple[Any, ...]

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


class _Missing:
    """A field not present in the row (as opposed to an explicit null)."""


_MISSING = _Missing()


def _tolerant(convert: fields.Converter, required: bool, nullable: bool, default: Any) -> Any:
    """A converter for the fast path: absent takes the default, null is allowed where the
    field is nullable; anything else raises (and the full path then explains it)."""
    if convert is fields.date:
        convert = _memo_dates()

    def converted(value: Any) -> Any:
        if value is _MISSING:
            if required:
                raise FieldInvalid("missing", "is required")
            return default
        if value is None:
            if not nullable:
                raise FieldInvalid("null", "must not be null")
            return None
        return convert(value)

    return converted


def _memo_dates() -> fields.Converter:
    valid: set[str] = set()

    def date(value: Any) -> Any:
        if type(value) is str and value in valid:
            return value
        checked = fields.date(value)
        if len(valid) < 100_000:
            valid.add(checked)
        return checked

    return date


class _Memo:
    """Per-batch memo of conversions that repeat across rows (unit codes, birth dates, the
    weighted digit sums of an ID number's parts)."""

    def __init__(self, today: dt.date) -> None:
        self.today = today
        self.units: dict[str, str | FieldInvalid] = {}
        self.names: dict[str, str] = {}
        # An ID number's check character is a weighted sum of its 17 digits mod 11: the sum
        # splits into its region (6 digits), birth date (8) and sequence (3), each of which
        # repeats across a batch. A birth date that is not a real one is memoised as -1.
        self.regions: dict[str, int] = {}
        self.births: dict[str, int] = {}
        self.sequences: dict[str, int] = {}

    def unit(self, value: Any) -> str:
        if type(value) is str:
            known = self.units.get(value)
            if known is None:
                try:
                    known = fields.unit_code(value)
                except FieldInvalid as exc:
                    known = exc
                if len(self.units) < 200_000:
                    self.units[value] = known
            if type(known) is str:
                return known
            raise known  # type: ignore[misc]
        return fields.unit_code(value)

    def plain_id(self, value: str) -> str | None:
        """The common case, fast: 18 ASCII characters, upper-case check, real birth date.
        None means "take the full path" (which also explains any error)."""
        if len(value) != 18 or not value.isascii() or not value[:17].isdigit():
            return None
        born = self.births.get(value[6:14])
        if born is None:
            born = self._birth(value[6:14])
        if born < 0:
            return None
        region = self.regions.get(value[:6])
        if region is None:
            region = _weighted(value[:6], 0)
            if len(self.regions) < 100_000:
                self.regions[value[:6]] = region
        sequence = self.sequences.get(value[14:17])
        if sequence is None:  # at most 1,000 of them
            sequence = self.sequences[value[14:17]] = _weighted(value[14:17], 14)
        if _ID_CHECK[(region + born + sequence) % 11] != value[17]:
            return None
        return value

    def _birth(self, born: str) -> int:
        """The weighted sum of a birth date's digits, or -1 if it is not a real date."""
        try:
            day = dt.date(int(born[:4]), int(born[4:6]), int(born[6:]))
            ok = day.year >= 1880 and day <= self.today
        except ValueError:
            ok = False
        weighted = _weighted(born, 6) if ok else -1
        if len(self.births) < 100_000:
            self.births[born] = weighted
        return weighted


def _weighted(digits: str, start: int) -> int:
    """The ID check sum's share of ``digits``, which stand at ``start`` in the number."""
    weights = _ID_WEIGHTS[start : start + len(digits)]
    return sum(w * (c - 48) for w, c in zip(weights, digits.encode(), strict=True))


class RowValidator:
    """Validates records and deletes of one batch.

    ``period`` is the batch's scope period (payroll rows default to it and must match it);
    ``units`` the scope's unit codes, if the batch names them.
    """

    def __init__(
        self,
        spec: DatasetSpec,
        keyring: Keyring,
        *,
        today: dt.date,
        period: str | None = None,
        units: frozenset[str] | None = None,
        text_cells: bool = False,
    ) -> None:
        self.spec = spec
        self.keyring = keyring
        self.today = today
        self.period = period
        self._latest_period = next_month(today)
        self.units = units
        self.allowed = frozenset(spec.field_names)
        self.key_allowed = frozenset(spec.key)
        identity = {"id_number", "unit_code", "name", "region"}
        self._plain = [
            (f.name, f.convert_text if text_cells else f.convert, f.required, f.nullable, f.default)
            for f in spec.fields
            if f.name not in identity and f.name != "period"
        ]
        self._by_name = {f.name: f for f in spec.fields}
        self._dataset = spec.name
        self._extra_names = spec.extra_columns
        self._has_name = "name" in self.allowed
        self._memo = _Memo(today)
        self._payroll = spec.dataset == "payroll"
        self._name = self._by_name["name"].convert if self._has_name else fields.text(100)
        self._fast = [_tolerant(c, r, nl, d) for _name, c, r, nl, d in self._plain]
        self._fast_names = tuple(name for name, *_ in self._plain)
        self._absent = (_MISSING,) * len(self._plain)
        # a unit whose parent is itself would count as its own internal unit (内设机构)
        self._parent = (
            self._fast_names.index("parent_code") if "parent_code" in self._fast_names else None
        )
        self._tails: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        if spec.dataset == "payroll":
            assert spec.extra_columns[0] == "period"  # staged right after the identity

    # -- helpers ------------------------------------------------------------------------------

    def _required(self, row: dict[str, Any], name: str, errors: list[FieldError], n: int) -> Any:
        value = row.get(name)
        if value is None:
            code = "missing" if name not in row else "null"
            errors.append(FieldError(row=n, field=name, code=code, message="is required"))
            return None
        convert = self._memo.unit if name == "unit_code" else self._by_name[name].convert
        try:
            return convert(value)
        except FieldInvalid as exc:
            errors.append(FieldError(row=n, field=name, code=exc.code, message=exc.message))
            return None

    def _unknown(self, row: dict[str, Any], allowed: frozenset[str], n: int) -> list[FieldError]:
        return [
            FieldError(
                row=n, field=safe_name(str(k)), code="unknown_field", message="is not a field"
            )
            for k in row
            if k not in allowed
        ]

    def _unit(self, row: dict[str, Any], errors: list[FieldError], n: int) -> str | None:
        """The row's unit code, which must be one of ``scope.units`` when the batch names some:
        in every dataset, person or registry, rows (and deletes) alike."""
        unit = self._required(row, "unit_code", errors, n)
        if unit is not None and self.units is not None and unit not in self.units:
            errors.append(
                FieldError(
                    row=n,
                    field="unit_code",
                    code="outside_scope",
                    message="is not one of the units the batch's scope names",
                )
            )
        return unit  # type: ignore[no-any-return]

    def _period(self, row: dict[str, Any], errors: list[FieldError], n: int) -> str | None:
        value = row.get("period")
        if value is None:
            if self.period is None:
                errors.append(
                    FieldError(row=n, field="period", code="missing", message="is required")
                )
            return self.period
        period = self._required(row, "period", errors, n)
        if period is not None and self.period is not None and period != self.period:
            errors.append(
                FieldError(
                    row=n,
                    field="period",
                    code="outside_scope",
                    message=f"differs from the batch's period {self.period}",
                )
            )
        return period  # type: ignore[no-any-return]

    def _identity(
        self, row: dict[str, Any], errors: list[FieldError], n: int
    ) -> tuple[str | None, str | None, str | None]:
        """(id18, id_given, unit_code) of a person row; None where invalid."""
        id18 = given = None
        raw = row.get("id_number")
        if raw is None:
            code = "missing" if "id_number" not in row else "null"
            errors.append(FieldError(row=n, field="id_number", code=code, message="is required"))
        elif type(raw) is not str:
            errors.append(
                FieldError(row=n, field="id_number", code="type", message="must be a string")
            )
        elif (fast := self._memo.plain_id(raw)) is not None:
            id18 = fast
        else:
            try:
                parsed = parse_citizen_id(raw, today=self.today)
                id18 = parsed.number
                given = parsed.given if parsed.given != id18 else None
            except IdentifierError as exc:
                errors.append(
                    FieldError(row=n, field="id_number", code=exc.code, message=exc.message)
                )
        return id18, given, self._unit(row, errors, n)

    # -- rows ---------------------------------------------------------------------------------

    def record(self, row: Any, n: int) -> Staged | list[FieldError]:
        """A record to upsert: the staged tuple, or the row's errors."""
        if self.spec.person:
            staged = self._fast_person(row, n)
            if staged is not None:
                return staged
        return self._record(row, n)

    def _fast_person(self, row: Any, n: int) -> Staged | None:
        """The common case of a person row, with little per-row overhead: plain ASCII ID,
        every field valid. Anything else (None) takes the full path, which explains it."""
        if type(row) is not dict or not self.allowed.issuperset(row):
            return None
        get = row.get
        memo = self._memo
        values = self._tail(tuple(map(get, self._fast_names, self._absent)))
        if values is None:
            return None
        shown = get("name")
        if type(shown) is not str:
            return None
        normal = memo.names.get(shown)
        try:
            unit = memo.unit(get("unit_code"))
            if normal is None:  # names are memoised once valid
                self._name(shown)
                normal = normalise_name(shown)
                if len(memo.names) < 500_000:
                    memo.names[shown] = normal
        except FieldInvalid:
            return None
        raw = get("id_number")
        if type(raw) is not str:
            return None
        id18 = memo.plain_id(raw)
        if id18 is None or (self.units is not None and unit not in self.units):
            return None
        keyring = self.keyring
        if self._payroll:
            period = get("period", self.period)
            if period != self.period or period is None or period > self._latest_period:
                return None
            return (
                n,
                0,
                keyring.record_key(self._dataset, period, id18, unit),
                unit[2:8],
                keyring.person_key(id18),
                keyring.seal_id(id18),
                None,
                unit,
                shown,
                normal,
                period,
                *values,
            )
        return (
            n,
            0,
            keyring.record_key(self._dataset, id18, unit),
            unit[2:8],
            keyring.person_key(id18),
            keyring.seal_id(id18),
            None,
            unit,
            shown,
            normal,
            *values,
        )

    def _tail(self, raw: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """The fast path's converted plain fields (None: take the full path). The values of
        these fields repeat across rows (codes, dates), so a tuple of text values is
        memoised with its conversion. Only text, null and absent values are memoised: a
        tuple holding ``1`` would also find one holding ``True`` or ``Decimal(1)``, but
        none of those equals a string."""
        try:
            known = self._tails.get(raw)
        except TypeError:  # a list or an object: not hashable, and never valid here
            return None
        if known is not None:
            return known
        try:
            values = tuple(convert(value) for convert, value in zip(self._fast, raw, strict=True))
        except FieldInvalid:
            return None
        if len(self._tails) < 50_000 and all(
            type(v) is str or v is None or v is _MISSING for v in raw
        ):
            self._tails[raw] = values
        return values

    def _record(self, row: Any, n: int) -> Staged | list[FieldError]:
        if type(row) is not dict:
            return [FieldError(row=n, field="record", code="type", message="must be an object")]
        errors = self._unknown(row, self.allowed, n) if not self.allowed.issuperset(row) else []
        spec = self.spec
        period = self._period(row, errors, n) if spec.dataset == "payroll" else None
        if period is not None and period > self._latest_period:
            # Records only: a line of a future month pushed before this check can be deleted.
            try:
                fields.not_future(period, self.today)
            except FieldInvalid as exc:
                errors.append(FieldError(row=n, field="period", code=exc.code, message=exc.message))
        values: list[Any] = []
        for name, convert, required, nullable, default in self._plain:
            value = row.get(name)
            if value is None:
                if name in row and not nullable:
                    errors.append(
                        FieldError(row=n, field=name, code="null", message="must not be null")
                    )
                elif required:
                    errors.append(
                        FieldError(row=n, field=name, code="missing", message="is required")
                    )
                values.append(default)
                continue
            try:
                values.append(convert(value))
            except FieldInvalid as exc:
                errors.append(FieldError(row=n, field=name, code=exc.code, message=exc.message))
                values.append(None)
        shown = self._required(row, "name", errors, n) if self._has_name else None
        if spec.person:
            id18, given, unit = self._identity(row, errors, n)
            if errors:
                return errors
            assert id18 is not None and unit is not None and shown is not None
            key: tuple[str, ...] = (period, id18, unit) if period is not None else (id18, unit)
            return (
                n,
                0,
                self.keyring.record_key(self._dataset, *key),
                unit[2:8],
                self.keyring.person_key(id18),
                self.keyring.seal_id(id18),
                self.keyring.seal_id(given) if given is not None else None,
                unit,
                shown,
                normalise_name(shown),
                *([period] if period is not None else ()),
                *values,
            )
        unit = self._unit(row, errors, n)
        region = self._required(row, "region", errors, n) if "region" in self.allowed else None
        if self._parent is not None and unit is not None and values[self._parent] == unit:
            errors.append(
                FieldError(row=n, field="parent_code", code="self", message="is the unit itself")
            )
        if errors:
            return errors
        assert unit is not None
        key_values = dict(zip(self._extra_names, values, strict=True))
        parts = [unit, *(str(key_values[k]) for k in spec.key[1:])]
        return (
            n,
            0,
            self.keyring.record_key(self._dataset, *parts),
            region or unit[2:8],
            unit,
            *([shown] if self._has_name else ()),
            *values,
        )

    def delete(self, row: Any, n: int) -> Staged | list[FieldError]:
        """A natural key to close: the staged tuple (business columns null), or errors."""
        if type(row) is not dict:
            return [FieldError(row=n, field="delete", code="type", message="must be an object")]
        spec = self.spec
        allowed = self.key_allowed
        errors = self._unknown(row, allowed, n) if row.keys() - allowed else []
        width = len(spec.stage_columns)
        if spec.person:
            period = self._period(row, errors, n) if spec.dataset == "payroll" else None
            id18, _given, unit = self._identity(row, errors, n)
            if errors:
                return errors
            assert id18 is not None and unit is not None
            key: tuple[str, ...] = (period, id18, unit) if period is not None else (id18, unit)
            record_key = self.keyring.record_key(self._dataset, *key)
            head: Staged = (n, 1, record_key, unit[2:8], None, None, None, unit)
            return head + (None,) * (width - len(head))
        unit = self._unit(row, errors, n)
        names = [unit]
        for name in spec.key[1:]:
            names.append(self._required(row, name, errors, n))
        if errors:
            return errors
        assert unit is not None
        record_key = self.keyring.record_key(self._dataset, *(str(p) for p in names))
        head = (n, 1, record_key, unit[2:8], unit)
        return head + (None,) * (width - len(head))
