"""Hypothesis profiles, chosen with the ``HYPOTHESIS_PROFILE`` environment variable.

- ``default``: quick, for a developer's edit-test loop.
- ``ci``: what ``.ci/run`` uses; more examples, still well inside CI's time.
- ``thorough``: opt-in, many more examples, for a release or a suspicion.

Deadlines are off: TensorFlow's first call in a process traces and compiles,
which says nothing about the code under test. The database is off in CI so a
run depends only on the code.
"""

import os


from hypothesis import HealthCheck, settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# The suite grew from 340 to 600 tests (a dozen reference families, recurrent and two-input
# properties): 10 examples keep the default run under 10 minutes on 2 cores, and 50 keep
# .ci/run (its nested quick-start run and the heavy tier included) well inside CI's 90 minutes.
settings.register_profile("default", max_examples=10, **_common)
settings.register_profile("ci", max_examples=50, database=None, print_blob=True, **_common)
settings.register_profile("thorough", max_examples=400, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
