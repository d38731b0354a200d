"""Shared pytest configuration.

Hypothesis: no per-example deadline (the project's machines are small and shared, and
tests never assert timings) and no example database written into the checkout.
"""

from hypothesis import settings

settings.register_profile("mvdlib", deadline=None, database=None, max_examples=60)
settings.load_profile("mvdlib")
