"""The Prefect task layer: each stage declared once; load refs -> call quant -> save. No maths."""

from functools import partial

from prefect import task
from prefect.cache_policies import NO_CACHE

pipeline_task = partial(task, cache_policy=NO_CACHE, persist_result=False)
"""Task decorator of portflow: reuse is decided by artifact versions, not Prefect's cache."""
