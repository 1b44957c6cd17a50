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

The room sits at the bottom of the house (below ``auth``, which writes to it) and imports no
other room: an actor is anything with a client id, a department and a region
(``service.Actor``). The auditor's view of the log over HTTP, which needs a principal and the
dataset tables, is :mod:`linkage_hub.reports.audit_log`; ``queries`` takes the batches of a
person from the records room as a subquery.
"""
