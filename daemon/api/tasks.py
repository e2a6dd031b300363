"""The managed list of admin tasks (`[[tasks]]` in the config) and where each one's time goes."""

from __future__ import annotations

from typing import Literal

import msgspec
from aiohttp import web

from daemon.api.routing import Route, json_response
from daemon.services import SERVICES
from daemon.settings import Config

__all__ = ["TaskList", "TaskView", "routes", "task_views"]


class TaskView(msgspec.Struct, kw_only=True):
    name: str
    posts: bool
    """Whether the task's approved time is posted to a PSA; False: it stays local (timesheet and exports)."""
    instance: str | None = None
    psa: Literal["connectwise", "autotask", "halopsa"] | None = None
    charge_code: int | None = None
    """ConnectWise: the charge code the time is charged to."""
    billing_code: int | None = None
    """Autotask: the internal billing code of the regular time."""
    where: str
    """In words: "ConnectWise charge code 12 on acme-cw", or "local: not posted to a PSA"."""


class TaskList(msgspec.Struct, kw_only=True):
    tasks: list[TaskView]


def task_views(config: Config) -> list[TaskView]:
    kinds = {i.name: i.kind for i in config.instances}
    views = []
    for task in config.tasks:
        post = task.post
        if post is None:
            views.append(TaskView(name=task.name, posts=False, where="local: not posted to a PSA"))
            continue
        kind = kinds.get(post.instance)
        if post.charge_code is not None:
            where = f"ConnectWise charge code {post.charge_code} on {post.instance}"
        else:
            where = f"Autotask regular time, billing code {post.billing_code} on {post.instance}"
        views.append(
            TaskView(
                name=task.name,
                posts=True,
                instance=post.instance,
                psa=kind,
                charge_code=post.charge_code,
                billing_code=post.billing_code,
                where=where,
            )
        )
    return views


async def list_tasks(request: web.Request) -> web.Response:
    return json_response(TaskList(tasks=task_views(request.app[SERVICES].settings.config)))


routes = [
    Route(
        "GET",
        "/api/v1/tasks",
        list_tasks,
        "The managed admin tasks and where each one's time is posted (or that it stays local)",
        "entries",
        response=TaskList,
    ),
]
