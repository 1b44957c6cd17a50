"""The audit log: an append-only, hash-chained record of every write and every read of person data.

Module contract:

- ``service.append(session, Entry(...))`` — call it from a write path, inside the write's own
  transaction, as late as possible (it serialises writers until commit). The entry's hash
  covers the previous entry's hash, so altering, inserting or removing an entry breaks the
  chain from there on (``service.verify``). Persons are named by person key, never ID number.
- Each entry also carries ``mac``, HMAC-SHA256 under the audit key of its ``seq`` and ``hash``
  (``chain.mac``; the key is ``LINKAGE_AUDIT_KEY``, else ``linkage-hub.audit.key`` made once in
  the secrets directory, or the current version of the key set, and reaches ``append`` through
  the session of :class:`linkage_hub.db.Database`). The chain alone shows a change by someone
  who left the later hashes as they were; anyone who can write the database could alter an
  entry and recompute every later SHA-256. The MAC is what they cannot recompute without the key:
  ``service.verify(session, key_set=...)`` demands a matching MAC of every entry (migration 0024
  gave the older ones theirs). What the key does not cover: removing the newest entries (a
  shorter chain, every MAC valid: anchor the head outside the hub) and anyone who holds the
  key and the database both. Keep the key like the ID keys, apart from database backups:
  lost, no entry's MAC can be checked and verify cannot pass again.
- The audit key is versioned (:class:`linkage_hub.keys.AuditKeySet`; the single key is
  version 1): each entry records ``key_version``, verify checks each under its own version and
  refuses a version that goes back along the chain (a leaked retired key cannot re-MAC later
  entries). ``audit-log rotate-key`` adds a version to the key set file; each version's
  fingerprint is recorded with the first entry under it, and a process whose set disagrees, or
  is behind the log's newest version, appends nothing (``keyset.AuditKeyMismatch``, 503).
  ``rotate-key`` appends ``audit.key_rotated`` under the new version and pins that entry's seq
  beside the version in the key set file (``since_seq``, outside the database): verify demands
  it there and under that version, so a leaked retired key cannot relabel the whole tail since.
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
