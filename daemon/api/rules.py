"""Rules as data: read and replace the rule set, explain an entry's decisions; the PSA's work types and roles."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from daemon.api.errors import ApiError
from daemon.api.routing import Route, json_response, read_json
from daemon.psa import WorkTypes
from daemon.rules import RulesError
from daemon.rules.service import Explained, ExplainRequest, RulesView
from daemon.services import SERVICES
from daemon.settings import RuleSet

__all__ = ["routes"]


async def get_rules(request: web.Request) -> web.Response:
    return json_response(request.app[SERVICES].rules.view())


async def put_rules(request: web.Request) -> web.Response:
    body: Any = await read_json(request, Any)
    try:
        view = await request.app[SERVICES].rules.put(body)
    except RulesError as exc:
        raise ApiError.of("invalid_rules", str(exc), details={"field": exc.field}) from None
    return json_response(view)


async def reset_rules(request: web.Request) -> web.Response:
    return json_response(await request.app[SERVICES].rules.reset())


async def explain(request: web.Request) -> web.Response:
    body = await read_json(request, ExplainRequest)
    return json_response(request.app[SERVICES].rules.explain(body))


async def work_types(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    return json_response(await services.psa.work_types(request.match_info["name"]))


routes = [
    Route(
        "GET",
        "/api/v1/rules",
        get_rules,
        "The rule set in force: global block, scoped overrides",
        "rules",
        response=RulesView,
    ),
    Route(
        "PUT",
        "/api/v1/rules",
        put_rules,
        "Replace the rule set (validated; on error 400 naming the field and the previous rules stay in force)",
        "rules",
        body=RuleSet,
        response=RulesView,
    ),
    Route(
        "DELETE",
        "/api/v1/rules",
        reset_rules,
        "Forget the rule set saved by PUT: the config file's [rules] are in force again",
        "rules",
        response=RulesView,
    ),
    Route(
        "POST",
        "/api/v1/rules/explain",
        explain,
        "Dry-run an entry's context and seconds: the decisions and the rule that made each",
        "rules",
        body=ExplainRequest,
        response=Explained,
    ),
    Route(
        "GET",
        "/api/v1/psa/{name}/work-types",
        work_types,
        "The PSA's work types and roles, fetched through its connector (ConnectWise, Autotask)",
        "psa",
        response=WorkTypes,
    ),
]
