"""The rows of one push, validated: read from its body (JSON, NDJSON, CSV) or given as dicts,
checked in this thread or, for large NDJSON and CSV bodies, in the worker pool
(:mod:`linkage_hub.records.offload`). Bad rows go to an :class:`ErrorLog`; the good ones are
staged tuples (:data:`~linkage_hub.records.validation.Staged`) for the push's ``COPY``."""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from linkage_hub.auth.principal import Principal
from linkage_hub.errors import FieldError, InvalidInput, PayloadTooLarge
from linkage_hub.keys import Keyring
from linkage_hub.records import offload
from linkage_hub.records.datasets import DatasetSpec
from linkage_hub.records.parsing import (
    BadRow,
    BodyFormat,
    SpooledBody,
    csv_rows,
    json_items,
    json_members,
    ndjson_has_lines,
    ndjson_lines,
    ndjson_rows,
)
from linkage_hub.records.scope import BatchScope, QueryOptions, resolve_scope
from linkage_hub.records.validation import RowValidator, Staged
from linkage_hub.settings import Settings


@dataclass
class ErrorLog:
    """Bad rows, kept up to a cap, counted in full."""

    cap: int
    errors: list[FieldError] = field(default_factory=list)
    total: int = 0

    def add(self, row_errors: list[FieldError]) -> None:
        self.add_counted(row_errors, len(row_errors))

    def add_counted(self, row_errors: list[FieldError], total: int) -> None:
        """Errors of which only some may be given (``total`` in all)."""
        self.total += total
        room = self.cap - len(self.errors)
        if room > 0:
            self.errors.extend(row_errors[:room])


class RowReader:
    """Reads and validates one push's rows, counting them (``received``) against
    ``max_batch_rows`` and logging bad ones."""

    def __init__(
        self,
        settings: Settings,
        keyring: Keyring,
        principal: Principal,
        spec: DatasetSpec,
        log: ErrorLog,
    ) -> None:
        self.settings = settings
        self.keyring = keyring
        self.principal = principal
        self.spec = spec
        self.log = log
        self.received = 0

    def too_many(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"A batch holds at most {self.settings.max_batch_rows} rows.")

    def validated(
        self, items: Iterable[tuple[bool, int, Any]], v: RowValidator
    ) -> Iterator[Staged]:
        """Records and deletes (JSON bodies, in-process pushes)."""
        log = self.log
        limit = self.settings.max_batch_rows
        for is_delete, row, item in items:
            self.received += 1
            if self.received > limit:
                raise self.too_many()
            result = v.delete(item, row) if is_delete else v.record(item, row)
            if type(result) is list:
                log.add(result)
            else:
                yield result  # type: ignore[misc]

    def _validated_records(
        self, rows: Iterable[tuple[int, Any]], v: RowValidator
    ) -> Iterator[Staged]:
        """Records only (NDJSON, CSV): one loop a row, the hot path of a large batch."""
        log = self.log
        record = v.record
        limit = self.settings.max_batch_rows
        received = self.received
        try:
            for row, item in rows:
                received += 1
                if received > limit:
                    raise self.too_many()
                if isinstance(item, BadRow):
                    log.add([item.error(row)])
                    continue
                result = record(item, row)
                if type(result) is list:
                    log.add(result)
                else:
                    yield result  # type: ignore[misc]
        finally:
            self.received = received

    def from_body(
        self, body: SpooledBody, fmt: BodyFormat, options: QueryOptions
    ) -> tuple[BatchScope, Iterator[Staged]]:
        spec, today = self.spec, self.settings.today()
        if body.size == 0 or (fmt is BodyFormat.ndjson and not ndjson_has_lines(body.file)):
            # Nothing at all (or line breaks alone: an empty export) is a failed upload, not
            # "no records": in snapshot mode it would close everything in scope. An empty
            # batch is `{"records": []}` (or a CSV header row alone, see ``csv_rows``).
            raise InvalidInput(
                "The body is empty.",
                errors=[
                    FieldError(
                        field="body",
                        code="empty",
                        message="the body is empty"
                        if body.size == 0
                        else "the body has no line that is not blank",
                    )
                ],
            )
        if fmt is BodyFormat.json:
            batch = json_members(body.file)
            scope = resolve_scope(spec, self.principal, batch.members, options, today)
            items: Iterable[tuple[bool, int, Any]] = (
                (key == "deletes", row, item)
                for key, row, item in json_items(body.file, batch.records)
            )
            text_cells = False
        else:
            scope = resolve_scope(spec, self.principal, {}, options, today)
            text_cells = fmt is BodyFormat.csv
        validator = RowValidator(
            spec,
            self.keyring,
            today=today,
            period=scope.period,
            units=frozenset(scope.units) if scope.units else None,
            text_cells=text_cells,
        )
        if fmt is BodyFormat.json:
            return scope, self.validated(items, validator)
        if offload.worth_it(self.settings, body.size):
            job = offload.Job(
                settings=pickle.dumps(self.settings),
                dataset=spec.dataset,
                today=validator.today,
                period=scope.period,
                units=validator.units,
                text_cells=text_cells,
                raw_lines=fmt is BodyFormat.ndjson,
            )
            lines = ndjson_lines(body.file) if fmt is BodyFormat.ndjson else self._csv(body)
            return scope, self._checked_elsewhere(lines, job)
        rows = ndjson_rows(body.file) if fmt is BodyFormat.ndjson else self._csv(body)
        return scope, self._validated_records(rows, validator)

    def _checked_elsewhere(
        self, rows: Iterable[tuple[int, Any]], job: offload.Job
    ) -> Iterator[Staged]:
        """:meth:`_validated_records`, with the checking done in the worker pool
        (:mod:`linkage_hub.records.offload`)."""
        limit = self.settings.max_batch_rows

        def counted() -> Iterator[tuple[int, Any]]:
            for row in rows:
                self.received += 1
                if self.received > limit:
                    raise self.too_many()
                yield row

        for checked in offload.checked_chunks(self.settings, job, counted(), self.log.cap):
            if checked.error_total:
                self.log.add_counted(checked.errors, checked.error_total)
            yield from checked.staged

    def _csv(self, body: SpooledBody) -> Iterator[tuple[int, Any]]:
        header, rows = csv_rows(body.file)
        allowed = set(self.spec.field_names)
        errors: list[FieldError] = []
        for n, name in enumerate(header):
            # A column is named by its place, never by its text: a CSV sent without its header
            # row has a person's row there (ID number, name).
            if name not in allowed:
                errors.append(
                    FieldError(
                        field=f"header[{n}]",
                        code="unknown_field",
                        message=f"column {n + 1} is not a field of {self.spec.name}",
                    )
                )
            elif name in header[:n]:
                errors.append(
                    FieldError(
                        field=f"header[{n}]",
                        code="duplicate",
                        message=f"column {n + 1} names a field an earlier column names",
                    )
                )
        if errors:
            raise InvalidInput(
                "The CSV header is not valid (is the header row missing?).",
                errors=errors,
                total_errors=len(errors),
            )
        return rows
