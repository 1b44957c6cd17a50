"""Privacy: masking ID numbers for wider circulation, and rotating the keys that protect them."""
