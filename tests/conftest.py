"""Shared pytest configuration.

Hypothesis: no per-example deadline (the project's machines are small and shared, and
tests never assert timings) and no example database written into the checkout. Under CI
(``CI`` set, as on the project's CI machines) the examples are derandomized, so a run is
repeatable; elsewhere every run explores new examples.
"""

import os

from hypothesis import settings

settings.register_profile("mvdlib", deadline=None, database=None, max_examples=60)
settings.register_profile("ci", parent=settings.get_profile("mvdlib"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "mvdlib")
