"""Rule evaluation, table-driven: a config's rules, an entry's context and seconds → the billed figures, the values
chosen and the rule that chose each (daemon.rules.model.resolve + shape_entry, through the RuleBook)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from daemon.rules import RuleBook, RulesError, check_rules, parse_rules, shape_entry
from daemon.rules.model import render_template
from daemon.settings import Config, parse_config

CONFIG = """
billable_default = "agreement"

[timing]
min_seconds = 60

[rounding]
increment_s = 360            # base: 6-minute rounding up

[rules]
rounding = { minimum_billed_s = 0 }

[[rules.scoped]]
match = { instance = "cw" }
rounding = { increment_s = 600 }
work_type = "Remote Support"

[[rules.scoped]]
match = { tag = "managed" }
billable_default = "no"
rounding = { increment_s = 900, direction = "nearest" }

[[rules.scoped]]
name = "Contoso contract"
match = { company = "Contoso" }
rounding = { increment_s = 900, direction = "up", minimum_billed_s = 1800 }
min_seconds = 120
note_template = "{ticket} for {company}: {duration}"

[[rules.scoped]]
match = { instance = "cw", board = "Projects" }
rounding = { increment_s = 1800 }
role = "Engineer"

[[rules.scoped]]
match = { automation = "password-reset" }
min_seconds = 0
rounding = { increment_s = 0 }

[[companies]]
name = "Fabrikam"
tags = ["managed"]

[[companies]]
name = "contoso"               # matched without regard to case
tags = ["managed", "vip"]
"""


def config() -> Config:
    return parse_config(CONFIG)


BOOK = RuleBook(config())


def run(seconds: float, **context: Any) -> tuple[Any, dict[str, tuple[Any, str]]]:
    extra = {k: context.pop(k) for k in ("billable", "work_type", "notes", "fields") if k in context}
    resolved = BOOK.resolve(BOOK.context(**context))
    shaped = shape_entry(seconds, resolved, **extra)
    return shaped, {d.setting: (d.value, d.source) for d in resolved.decisions}


# (seconds, context, billed, void, {setting: (value, source)} that must hold)
CASES: list[tuple[float, dict[str, Any], int, str | None, dict[str, tuple[Any, str]]]] = [
    # the base: the config file's own keys
    (360, {}, 360, None, {"rounding.increment_s": (360, "config"), "min_seconds": (60, "config")}),
    (361, {}, 720, None, {"rounding.direction": ("up", "config")}),
    (59, {}, 0, "too_short", {"min_seconds": (60, "config")}),
    (60, {}, 360, None, {}),  # exactly the minimum is kept, then rounded up
    # instance scope over the base
    (600, {"instance": "cw"}, 600, None, {"rounding.increment_s": (600, "instance 'cw'")}),
    (601, {"instance": "cw"}, 1200, None, {"work_type": ("Remote Support", "instance 'cw'")}),
    (601, {"instance": "at"}, 720, None, {"work_type": ("", "config")}),
    # a tag (from [[companies]]) over the instance
    (
        1349,
        {"instance": "cw", "company": "Fabrikam"},
        900,
        None,
        {
            "rounding.increment_s": (900, "tag 'managed'"),
            "rounding.direction": ("nearest", "tag 'managed'"),
            "billable_default": ("no", "tag 'managed'"),
            "work_type": ("Remote Support", "instance 'cw'"),
        },
    ),
    (1350, {"company": "Fabrikam"}, 1800, None, {}),  # nearest: ties go up
    # a tag given with the context, for a company without config tags
    (1349, {"company": "Northwind", "tags": ["Managed "]}, 900, None, {"rounding.increment_s": (900, "tag 'managed'")}),
    # the company over its own tag: direction back to up, a higher minimum, minimum billed
    (
        901,
        {"instance": "cw", "company": "CONTOSO"},
        1800,
        None,
        {
            "rounding.direction": ("up", "rule 'Contoso contract' (company 'Contoso')"),
            "billable_default": ("no", "tag 'managed'"),
            "min_seconds": (120, "rule 'Contoso contract' (company 'Contoso')"),
        },
    ),
    (900, {"company": "Contoso"}, 1800, None, {}),  # an exact increment stays 900, then minimum billed 1800
    (1800, {"company": "Contoso"}, 1800, None, {}),
    (2700, {"company": "Contoso"}, 2700, None, {}),  # exact increment, above the minimum billed
    (119, {"company": "Contoso"}, 0, "too_short", {}),  # minimum kept (120) beats minimum billed (1800)
    (120, {"company": "Contoso"}, 1800, None, {}),
    # the board over the company (a later tier), only on its instance
    (
        901,
        {"instance": "cw", "company": "Contoso", "board": "projects"},
        1800,
        None,
        {
            "rounding.increment_s": (1800, "instance 'cw', board 'Projects'"),
            "rounding.minimum_billed_s": (1800, "rule 'Contoso contract' (company 'Contoso')"),
            "role": ("Engineer", "instance 'cw', board 'Projects'"),
        },
    ),
    (901, {"instance": "at", "board": "Projects"}, 1080, None, {"role": ("", "config")}),
    # the automation over everything
    (
        45,
        {"instance": "cw", "company": "Contoso", "board": "Projects", "automation": "password-reset"},
        1800,
        None,
        {"min_seconds": (0, "automation 'password-reset'"), "rounding.increment_s": (0, "automation 'password-reset'")},
    ),
    (45, {"automation": "password-reset"}, 45, None, {}),
    (45, {"automation": "Password-Reset"}, 0, "too_short", {}),  # automations match exactly
]


@pytest.mark.parametrize(("seconds", "context", "billed", "void", "decisions"), CASES)
def test_rule_evaluation(
    seconds: float, context: dict[str, Any], billed: int, void: str | None, decisions: dict[str, tuple[Any, str]]
) -> None:
    shaped, chosen = run(seconds, **context)
    assert (shaped.billed_seconds, shaped.void_reason) == (billed, void)
    for setting, expected in decisions.items():
        assert chosen[setting] == expected, setting


def test_every_note_names_the_rule_that_set_its_value() -> None:
    shaped, _ = run(
        901, instance="cw", company="Contoso", fields={"ticket": "4711", "company": "Contoso", "summary": ""}
    )
    contoso = "rule 'Contoso contract' (company 'Contoso')"
    assert [(n.rule, n.source) for n in shaped.explanation] == [
        ("minimum", contoso),
        ("rounding", contoso),  # increment and direction both from the company rule, named once
        ("minimum_billed", contoso),
        ("billable", "tag 'managed'"),
        ("work_type", "instance 'cw'"),
        ("notes", contoso),
    ]
    assert shaped.work_type == "Remote Support"
    assert shaped.billable == "no"
    assert shaped.notes == "4711 for Contoso: 30m"  # {duration} is the billed time


def test_the_entrys_own_choices_beat_the_defaults() -> None:
    shaped, _ = run(901, instance="cw", company="Contoso", billable="yes", work_type="Onsite", notes="Called Pia")
    notes = {n.rule: n for n in shaped.explanation}
    assert (shaped.billable, shaped.work_type, shaped.notes) == ("yes", "Onsite", "Called Pia")
    assert notes["billable"].source == notes["work_type"].source == "entry"
    assert "notes" not in notes  # the template fills only empty notes


def test_rounding_note_names_both_rules_when_increment_and_direction_differ() -> None:
    shaped, _ = run(1000, instance="cw", company="Fabrikam", board="Projects")
    rounding = next(n for n in shaped.explanation if n.rule == "rounding")
    assert rounding.source == "instance 'cw', board 'Projects'; tag 'managed'"
    assert rounding.detail == "nearest to 30m: 16m 40s → 30m"


def test_within_a_tier_a_later_rule_wins() -> None:
    rules = parse_rules(
        {
            "scoped": [
                {"match": {"tag": "a"}, "min_seconds": 10},
                {"match": {"tag": "b"}, "min_seconds": 20},
                {"match": {"company": "X", "instance": "cw"}, "min_seconds": 30},  # tier: company
                {"match": {"instance": "cw"}, "min_seconds": 40},  # lower tier, though later
            ]
        }
    )
    book = RuleBook(Config(), rules)
    assert book.resolve(book.context(tags=["a", "b"])).min_seconds == 20
    assert book.resolve(book.context(tags=["a"])).min_seconds == 10
    assert book.resolve(book.context(instance="cw", company="x", tags=["a", "b"])).min_seconds == 30
    assert book.resolve(book.context(instance="cw", company="y", tags=["a", "b"])).min_seconds == 20
    assert book.resolve(book.context(instance="cw")).min_seconds == 40


def test_an_unchecked_empty_match_never_applies() -> None:
    book = RuleBook(parse_config("[[rules.scoped]]\nmatch = {}\nmin_seconds = 5\n"))  # parsed, not checked
    assert book.resolve(book.context(instance="cw")).min_seconds == 60


def test_psa_tags_join_the_config_tags() -> None:
    book = RuleBook(config())
    book.set_psa_tags("cw", "Northwind", ["managed"])
    assert book.context(instance="cw", company="northwind").tags == ("managed",)
    assert book.context(instance="at", company="northwind").tags == ()  # per instance
    assert book.context(instance="cw", company="Contoso").tags == ("managed", "vip")


def test_psa_attributes_map_to_tags_that_expire_unless_renewed() -> None:
    text = (
        '[company_tags]\nrefresh_s = 3600\n[[company_tags.map]]\ninstance = "at"\nattribute = "companyType"\n'
        'value = "1"\ntags = ["customer"]\n[[company_tags.map]]\ninstance = "at"\nattribute = "classification"\n'
        'value = "5"\ntags = ["gold", "customer"]\n'
    )
    book = RuleBook(parse_config(text))
    book.set_psa_attributes("at", "Northwind", {"companyType": "1", "classification": "5"}, now=1000.0)
    assert book.context(instance="at", company="NORTHWIND", now=1000.0).tags == ("customer", "gold")
    assert book.context(instance="at", company="Northwind", now=4600.0).tags == ("customer", "gold")
    assert book.context(instance="at", company="Northwind", now=4601.0).tags == ()  # older than refresh_s
    book.set_psa_attributes("at", "Northwind", {"companyType": "2"}, now=4601.0)  # the PSA changed it
    assert book.context(instance="at", company="Northwind", now=4602.0).tags == ()
    book.set_psa_attributes("cw", "Fabrikam", {"companyType": "1"}, now=0.0)  # maps are per instance
    assert book.context(instance="cw", company="Fabrikam", now=1.0).tags == ()


def test_old_configs_keep_working_as_the_global_block() -> None:
    old = parse_config('billable_default = "yes"\n[timing]\nmin_seconds = 30\n[rounding]\nincrement_s = 900\n')
    book = RuleBook(old)
    shaped = shape_entry(31, book.resolve(book.context(instance="cw", company="Contoso")))
    assert (shaped.billed_seconds, shaped.billable) == (900, "yes")
    assert {n.source for n in shaped.explanation} == {"config"}


def test_a_replaced_rule_set_is_in_force_for_a_context_already_resolved() -> None:
    """Resolutions are remembered per context; replacing the rule set forgets them."""
    book = RuleBook(parse_config("[rounding]\nincrement_s = 900\n"))
    context = book.context(instance="cw", company="Contoso")
    assert book.resolve(context).rounding.increment_s == 900
    assert book.resolve(book.context(instance="cw", company="Contoso")) is book.resolve(context)
    book.replace(parse_rules({"scoped": [{"match": {"company": "Contoso"}, "rounding": {"increment_s": 60}}]}))
    resolved = book.resolve(book.context(instance="cw", company="Contoso"))
    assert (resolved.rounding.increment_s, resolved.source("rounding.increment_s")) == (60, "company 'Contoso'")


def test_global_block_overrides_the_config_keys() -> None:
    book = RuleBook(parse_config("[rounding]\nincrement_s = 900\n[rules]\nrounding = { increment_s = 60 }\n"))
    resolved = book.resolve(book.context())
    assert (resolved.rounding.increment_s, resolved.source("rounding.increment_s")) == (60, "global")


@pytest.mark.parametrize(
    ("template", "fields", "expected"),
    [
        ("{ticket}: {summary}", {"ticket": "T1", "summary": "Printer"}, "T1: Printer"),
        ("{automation} ran", {}, " ran"),
        ("no placeholders", {"ticket": "x"}, "no placeholders"),
        ("{unknown} stays", {"unknown": "x"}, "{unknown} stays"),
        ("{{ticket}}", {"ticket": "7"}, "{7}"),
    ],
)
def test_templates(template: str, fields: dict[str, str], expected: str) -> None:
    assert render_template(template, fields) == expected


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"min_seconds": "60"}, "min_seconds", "must be a whole number"),
        ({"min_seconds": -1}, "min_seconds", "must be at least 0"),
        ({"rounding": {"direction": "sideways"}}, "rounding.direction", "'sideways' is not one of the allowed values"),
        ({"rounding": {"incremnt_s": 60}}, "rounding.incremnt_s", "unknown key"),
        ({"scoped": [{"min_seconds": 5}]}, "scoped[0].match", "required"),
        ({"scoped": [{"match": {}}]}, "scoped[0].match", "name at least one of"),
        ({"scoped": [{"match": {"company": " "}}]}, "scoped[0].match.company", "must not be empty"),
        ({"scoped": [{"match": {"customer": "X"}}]}, "scoped[0].match.customer", "unknown key"),
        ({"note_template": "{tikcet}"}, "note_template", "unknown placeholder {tikcet}"),
        (
            {"scoped": [{"match": {"tag": "a"}}, {"match": {"tag": "b"}, "note_template": "{who}"}]},
            "scoped[1].note_template",
            "unknown placeholder",
        ),
        ({"long_run_s": 5}, "long_run_s", "must be at least 60"),
        ({"billable_default": "maybe"}, "billable_default", "'maybe' is not one of the allowed values"),
        ([], "", "must be an object, not a list"),
        ({"colour": "red"}, "colour", "unknown key"),
    ],
)
def test_invalid_rules_name_the_field(raw: Any, field: str, words: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(raw)
    assert caught.value.field == field
    assert words in caught.value.message


def test_instances_and_work_types_are_checked_where_known() -> None:
    rules = parse_rules(
        {"work_type": "Remote Support", "scoped": [{"match": {"instance": "cw"}, "work_type": "Onsite"}]}
    )
    check_rules(rules, instances={"cw"}, work_types={})  # no list known: nothing to check against
    check_rules(rules, instances={"cw"}, work_types={"cw": ["Remote Support", "Onsite"]})
    with pytest.raises(RulesError) as caught:
        check_rules(rules, instances={"cw"}, work_types={"cw": ["Remote Support"]})
    assert caught.value.field == "scoped[0].work_type"
    with pytest.raises(RulesError) as caught:
        check_rules(rules, instances={"cw"}, work_types={"cw": ["Onsite"], "at": ["29682801"]})
    assert caught.value.field == "work_type"  # the global block: in none of the known lists
    with pytest.raises(RulesError) as caught:
        check_rules(rules, instances={"halo"})
    assert caught.value.field == "scoped[0].match.instance"


def test_a_rule_set_round_trips_as_json() -> None:
    rules = config().rules
    again = parse_rules(msgspec.json.decode(msgspec.json.encode(rules)))
    assert again == rules
    assert "minimum_billed_s" not in msgspec.json.encode(rules.scoped[0]).decode()  # unset settings are not written
