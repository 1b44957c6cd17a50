"""Dependencies of the dataset routes, for every router that takes a dataset or a record body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Path, Request

from linkage_hub.auth.policy import person_reads
from linkage_hub.dependencies import settings_of
from linkage_hub.domain import PERSON_DATASETS, Dataset
from linkage_hub.errors import NotFound, PayloadTooLarge
from linkage_hub.keys import Keyring
from linkage_hub.records import shaping
from linkage_hub.records.parsing import SpooledBody, json_body, spool
from linkage_hub.records.schemas import Record


def note_person_reads(
    request: Request,
    keyring: Keyring,
    dataset: Dataset,
    records: list[Record],
    persons: set[tuple[str, str]] | None = None,
) -> None:
    """For the access record and the audit log: how many person records this response shows
    and whose (person keys, never ID numbers, each with its record's region; hashed from the
    records' ID numbers unless the rows' own are given). Records of the registry datasets are
    no one's."""
    if dataset in PERSON_DATASETS:
        person_reads(request).add_all(
            shaping.persons_read(keyring, records) if persons is None else persons,
            records=len(records),
        )


async def dataset_of(
    dataset: Annotated[
        str,
        Path(
            description="units, quotas, leader_posts, roster, cadres, employment or payroll",
            json_schema_extra={"enum": [d.value for d in Dataset]},
        ),
    ],
) -> Dataset:
    try:
        return Dataset(dataset)
    except ValueError:
        # The segment is not repeated: a URL template filled in the wrong order puts a
        # person's ID number here.
        names = ", ".join(d.value for d in Dataset)
        raise NotFound(f"There is no such dataset; the datasets are {names}.") from None


DatasetDep = Annotated[Dataset, Depends(dataset_of)]


async def record_body(request: Request) -> Any:
    """A single record's JSON body (numbers as decimals, never floats)."""
    return json_body(await request.body())


async def spooled_body(request: Request) -> AsyncIterator[SpooledBody]:
    settings = settings_of(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_body_bytes:
        raise PayloadTooLarge(f"The body is larger than {settings.max_body_bytes} bytes.")
    body = await spool(request.stream(), settings.max_body_bytes)
    try:
        yield body
    finally:
        body.close()
