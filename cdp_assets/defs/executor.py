"""Which executor runs the steps of every job: in one process (the embedded default), or
distributed to Celery workers (the production profile, `deploy/production/`).

`CDP_EXECUTOR` picks it where the Definitions are assembled, so the same asset graph, jobs and
schedules run on either. The Celery executor reads its broker and result backend URLs from
environment variables when a run starts (the UI shows their names, never a password)."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from cdp_assets.config.loader import ConfigError

ENV_EXECUTOR = "CDP_EXECUTOR"
ENV_CELERY_BROKER = "CDP_CELERY_BROKER_URL"
ENV_CELERY_BACKEND = "CDP_CELERY_BACKEND_URL"
ENV_CELERY_QUEUE = "CDP_CELERY_QUEUE"
DEFAULT_QUEUE = "dagster"  # dagster-celery's own
IN_PROCESS = "in_process"
CELERY = "celery"

# What the workers must also be started with (deploy/production/dagster_celery_config.py):
# a step's message is acknowledged only once the step has ended, and a worker that dies during
# a step (SIGKILL, lost machine) has its message put back on the queue for another worker. A
# step is therefore run again from its start; every asset's write is transactional (see the
# fault suite), so a second attempt gives what one would have.
CELERY_TASK_SETTINGS: dict[str, Any] = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
}


def selected_executor() -> dg.ExecutorDefinition:
    """The executor `CDP_EXECUTOR` names (`in_process` when unset)."""
    choice = os.environ.get(ENV_EXECUTOR, "").strip() or IN_PROCESS
    if choice == IN_PROCESS:
        return dg.in_process_executor
    if choice == CELERY:
        return celery_executor()
    raise ConfigError(
        f"{ENV_EXECUTOR}={choice!r}: expected {IN_PROCESS!r} (the default) or {CELERY!r}"
    )


def celery_executor() -> dg.ExecutorDefinition:
    """Dagster's Celery executor, configured from the environment: the broker from
    `CDP_CELERY_BROKER_URL` (default RabbitMQ as guest on localhost), the result backend from
    `CDP_CELERY_BACKEND_URL` (default `rpc://`, replies over the broker), the queue from
    `CDP_CELERY_QUEUE` (default `dagster`)."""
    try:
        from dagster_celery import celery_executor as executor
    except ImportError:
        raise ConfigError(
            f"{ENV_EXECUTOR}={CELERY}: dagster-celery is not installed "
            "(pip install -e '.[postgres]')"
        ) from None
    # The queue the steps go to (`CDP_CELERY_QUEUE`, the workers listen on the same): two
    # deployments sharing a broker, or a test next to a developer's workers, keep apart.
    queue = os.environ.get(ENV_CELERY_QUEUE, "").strip() or DEFAULT_QUEUE
    settings = {**CELERY_TASK_SETTINGS, "task_default_queue": queue}
    config: dict[str, Any] = {"config_source": settings}
    if os.environ.get(ENV_CELERY_BROKER):
        config["broker"] = {"env": ENV_CELERY_BROKER}
    if os.environ.get(ENV_CELERY_BACKEND):
        config["backend"] = {"env": ENV_CELERY_BACKEND}
    return executor.configured(config, name=CELERY)
