"""How long the billing property tests run."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# ~200 examples per property keeps the module fast in CI; FUZZ_EXAMPLES=5000 (say) for
# a longer hunt, as with the API fuzz run. CI runs derandomized, so that a red build
# replays the same examples.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0")) or 200
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("CI", "").lower() in ("1", "true", "yes"),
    suppress_health_check=[HealthCheck.too_slow],
)
