"""The transactional outbox: events written in the transaction of the change that causes them.

The notifications room (:mod:`linkage_hub.notifications`) fans them out to subscriptions and
delivers them; the rooms that cause events (records, reconciliation) only append here, so they
need nothing of the room above them.
"""
