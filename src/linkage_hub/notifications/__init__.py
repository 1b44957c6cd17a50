"""Notifications (定期通报 / 及时通报): subscriptions, fan-out of the outbox, signed delivery.

- :mod:`models`: subscriptions, one delivery per (subscription, event) with its ``seq``, and
  the log of every attempt.
- :mod:`service`: what the API does with subscriptions (create, change, rotate, replay).
- :mod:`dispatch`: the outbox fanned out to matching subscriptions; due deliveries claimed.
- :mod:`sender`: one signed POST (Standard Webhooks) with the outbound guards.
- :mod:`worker`: the loop that dispatches, claims, sends and records, in every hub process
  (``LINKAGE_DELIVER_IN_PROCESS``) or as ``linkage-hub deliver``.
"""
