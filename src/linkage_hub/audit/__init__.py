"""The audit log: an append-only, hash-chained record of every write and every read of person data.

Module contract:

- ``service.append(session, Entry(...))`` — call it from a write path, inside the write's own
  transaction, as late as possible (it serialises writers until commit). The entry's hash
  covers the previous entry's hash, so altering, inserting or removing an entry breaks the
  chain from there on (``service.verify``). Persons are named by person key, never ID number.
- Helpers for the rooms that write: ``record_batch``, ``record_change`` (single records),
  ``record_client_change``, ``record_finding_change`` (reconciliation transitions and
  comments).
- Reads of person data are appended by the access recorder's flush (:mod:`linkage_hub.auth.access`),
  from what the route put through the one door, ``linkage_hub.auth.policy.person_reads``
  (routes declared in ``PERSON_READS``).

``models``, ``chain`` and ``service`` import no room above ``auth``; ``queries`` and ``router``
(the auditor's view, which matches batches to persons through the dataset tables) sit on top.
"""
