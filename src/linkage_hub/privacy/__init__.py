"""Privacy: masking ID numbers for wider circulation, and the state of a key rotation.

A room at the bottom of the house, beside ``audit``: every room may use it and it uses no
room. The key rotation itself rewrites the dataset tables, so it lives with them
(:mod:`linkage_hub.records.rotation`, ``linkage-hub keys`` in :mod:`linkage_hub.records.keys_cli`).
"""
