"""Settings of the Celery workers of the production profile. `dagster_celery.app` imports this
module when it is on the workers' PYTHONPATH (deploy/production/production.py puts it there).

The run's side (the Celery executor) gets the same task settings from
`cdp_assets.defs.executor.CELERY_TASK_SETTINGS`; the broker and backend URLs come from the same
environment variables on both sides."""

import os

from dagster_celery.defaults import broker_transport_options

broker_url = os.environ.get("CDP_CELERY_BROKER_URL", "pyamqp://guest@127.0.0.1:5672//")
result_backend = os.environ.get("CDP_CELERY_BACKEND_URL", "rpc://")

# A step's message is acknowledged when the step has ended; when the worker running it dies
# (SIGKILL, out of memory, lost machine) the message goes back on the queue and another worker
# runs the step again from its start.
task_acks_late = True
task_reject_on_worker_lost = True
# One step at a time per worker process, none reserved ahead: a long step never holds back a
# short one another worker could take.
worker_prefetch_multiplier = 1
broker_transport_options = broker_transport_options
# The project's code is imported once when a worker starts, before its pool process is forked,
# rather than by the first step it is given (about 6 s on this machine).
imports = ("cdp_assets.definitions",)
