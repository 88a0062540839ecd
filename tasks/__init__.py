"""The Prefect task layer: each stage declared once; load refs -> call quant -> save. No maths."""

from functools import partial

from prefect import task
from prefect.cache_policies import NO_CACHE

from portflow.errors import quiet_user_error_tracebacks

pipeline_task = partial(task, cache_policy=NO_CACHE, persist_result=False)
"""Task decorator of portflow: reuse is decided by artifact versions, not Prefect's cache."""

# A run that fails with a user error (bad data, a damaged artifact) logs one line, in the
# terminal and in the Prefect UI, instead of the task's and the flow's tracebacks.
quiet_user_error_tracebacks()
