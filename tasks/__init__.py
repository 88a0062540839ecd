"""Prefect tasks: load artifact refs, call ``portflow.quant``, save, return a ref. No maths."""

from functools import partial

from prefect import task
from prefect.cache_policies import NO_CACHE

stage_task = partial(task, cache_policy=NO_CACHE, persist_result=False)
"""Task decorator for stages: reuse is decided by artifact versions, not Prefect's cache."""
