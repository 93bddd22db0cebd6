"""Hypothesis profiles for the fuzz tests: "ci" (the default, bounded so `make test` stays quick on 2 cores)
and "fuzz" (`make fuzz`, many more examples). Chosen with the environment variable HYPOTHESIS_PROFILE."""

import os

from hypothesis import HealthCheck, settings

# deadline=None: a 2-core machine shared with other work makes per-example times noisy, and a slow example is
# not a failure here. too_slow/data_too_large: the hostile inputs are large on purpose (multi-MB lines).
_RELAXED = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# "ci" is derandomized (examples fixed by the test's source) and keeps no example database: `make test` sees the
# same inputs on every machine, so it can only fail on a change. `make fuzz` explores new inputs on each run.
settings.register_profile("ci", max_examples=30, derandomize=True, database=None, **_RELAXED)
settings.register_profile("fuzz", max_examples=1000, **_RELAXED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
