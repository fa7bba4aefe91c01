"""Hypothesis profiles: bounded and reproducible in CI, exploring elsewhere.

``ci`` (chosen when ``CI`` is set): at most 100 examples a test unless the
test says otherwise, derandomized (each test's examples follow from its name,
so a CI failure repeats on any machine), no example database, no deadline
(a loaded CI machine is slow). ``dev``: random, with the example database,
and the blob to reproduce a failure printed. ``HYPOTHESIS_PROFILE=NAME``
chooses one.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None, print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)
