"""The product's settings with the benchmark's URLconf (`floor_urls`: the
product's routes plus the floors). Bench-only: `bench_http.py` serves it."""

from arcadia_cloud.settings import *  # noqa: F403

ROOT_URLCONF = "floor_urls"
