from __future__ import annotations

import base64
import json
import random
import string
from urllib.parse import quote

import pytest

from daemon.settings import InstanceConfig
from daemon.timers.model import TicketRef
from daemon.timers.recognize import is_instance_origin, origin_of, recognize

CW = "https://na.myconnectwise.net"
AT = "https://ww5.autotask.net"
HALO = "https://acme.halopsa.com"

INSTANCES = [
    InstanceConfig(name="cw", kind="connectwise", origins=["https://NA.MyConnectWise.net:443/"]),
    InstanceConfig(name="at", kind="autotask", origins=[AT, "https://ww14.autotask.net"]),
    InstanceConfig(name="halo", kind="halopsa", origins=[HALO, "http://halo.local:8080"]),
]


def cw(ticket_id: int) -> TicketRef:
    return TicketRef(instance="cw", kind="connectwise", id=ticket_id)


def at(ticket_id: int | None = None, number: str | None = None) -> TicketRef:
    return TicketRef(instance="at", kind="autotask", id=ticket_id, number=number)


def halo(ticket_id: int) -> TicketRef:
    return TicketRef(instance="halo", kind="halopsa", id=ticket_id)


def view_data(payload: object, *, urlsafe: bool = False, padding: bool = True) -> str:
    raw = json.dumps(payload).encode()
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return text if padding else text.rstrip("=")


OPEN_TICKET = f"{AT}/Autotask/AutotaskExtend/ExecuteCommand.aspx?Code=OpenTicketDetail"
DETAIL = "/Mvc/ServiceDesk/TicketDetail.mvc?workspace=False&mode=0&ticketId=53203"
# A payload whose standard base64 has "+" and "/" in it and "=" padding: it must survive the query string.
TRICKY = {"url": DETAIL, "title": "ticket ~~~>>>???", "pad": "ab"}

CASES: list[tuple[str, TicketRef | None]] = [
    # --- ConnectWise ---
    (f"{CW}/v4_6_release/services/system_io/Service/fv_sr100_request.rails?service_recid=12345", cw(12345)),
    (
        f"{CW}/v2025_1/services/system_io/Service/fv_sr100_request.rails?service_recid=7&companyName=acme",
        cw(7),
    ),
    (f"{CW}/v4_6_release/services/system_io/service/FV_SR100_REQUEST.rails?SERVICE_RECID=9", cw(9)),
    (f"{CW}/services/system_io/Service/fv_sr100_request.rails?service_recid=", None),
    (f"{CW}/services/system_io/Service/fv_sr100_request.rails?service_recid=0", None),
    (f"{CW}/services/system_io/Service/fv_sr100_request.rails?service_recid=-5", None),
    (f"{CW}/services/system_io/Service/fv_sr100_request.rails?service_recid=12a", None),
    (f"{CW}/services/system_io/Service/fv_sr100_request.rails?service_recid=2147483648", None),
    (f"{CW}/services/system_io/Service/fv_sr100_request.rails?service_recid=2147483647", cw(2147483647)),
    (f"{CW}/services/system_io/Service/fv_sr100_request.rails", None),
    (f"{CW}/v4_6_release/ConnectWise.aspx?routeTo=ServiceFV&recid=555", cw(555)),
    (f"{CW}/v4_6_release/connectwise.aspx?ROUTETO=servicefv&RecId=556", cw(556)),
    (f"{CW}/v4_6_release/ConnectWise.aspx?locale=en_US&routeTo=ServiceFV&recid=557#XQAAAC", cw(557)),
    (f"{CW}/v4_6_release/ConnectWise.aspx?routeTo=TimeEntryFV&recid=555", None),
    (f"{CW}/v4_6_release/ConnectWise.aspx?routeTo=ServiceFV", None),
    (f"{CW}/v4_6_release/ConnectWise.aspx?routeTo=ServiceFV&recid=abc", None),
    (f"{CW}/v2025_1/ConnectWise.aspx?fullscreen=false&locale=en_US#XQAAACAD1234", None),  # SPA, no page facts
    (f"{CW}/v4_6_release/services/system_io/router/openrecord.rails?recordType=ServiceFv", None),
    (f"{CW}/v4_6_release/apis/3.0/service/tickets/5", None),
    # A ConnectWise URL form on an Autotask origin is not a ticket, and the other way round.
    (f"{AT}/v4_6_release/ConnectWise.aspx?routeTo=ServiceFV&recid=555", None),
    (f"{CW}/Mvc/ServiceDesk/TicketDetail.mvc?ticketId=5", None),
    (f"{CW}/ticket?id=5", None),
    # --- Autotask ---
    (f"{AT}/Mvc/ServiceDesk/TicketDetail.mvc?workspace=False&mode=0&ticketId=111", at(111)),
    (f"{AT}/Mvc/ServiceDesk/TicketDetail.mvc?workspace=False&ids%5B0%5D=53203&ticketId=53203", at(53203)),
    (f"{AT}/Mvc/ServiceDesk/TicketDetail.mvc?TicketID=35754", at(35754)),
    (f"{AT}/mvc/servicedesk/ticketdetail.mvc?ticketid=35755", at(35755)),
    ("https://ww14.autotask.net/Mvc/ServiceDesk/TicketDetail.mvc?TicketId=8", at(8)),
    (f"{AT}/Mvc/ServiceDesk/TicketDetail.mvc?workspace=False", None),
    (f"{AT}/Mvc/ServiceDesk/TicketDetail.mvc?ticketId=0", None),
    (f"{AT}/Mvc/ServiceDesk/TicketDetail.mvc?TicketNumber=T20240101.0001", at(number="T20240101.0001")),
    (f"{AT}/Mvc/ServiceDesk/TicketPrintView.mvc?ticketId=111", None),
    (f"{AT}/Mvc/ServiceDesk/TicketList.mvc", None),
    (f"{AT}/Autotask/AutotaskExtend/ExecuteCommand.aspx?Code=OpenTicketDetail&TicketID=42", at(42)),
    (f"{AT}/autotask/autotaskextend/executecommand.aspx?code=openticketdetail&ticketid=43", at(43)),
    (
        f"{AT}/Autotask/AutotaskExtend/ExecuteCommand.aspx?Code=OpenTicketDetail&TicketNumber=T20240101.0001",
        at(number="T20240101.0001"),
    ),
    (
        f"{AT}/Autotask/AutotaskExtend/ExecuteCommand.aspx?Code=OpenTicketDetail&TicketNumber=t20261007.0082",
        at(number="T20261007.0082"),
    ),
    (f"{AT}/Autotask/AutotaskExtend/ExecuteCommand.aspx?Code=OpenTicketDetail&TicketNumber=12345", None),
    (f"{AT}/Autotask/AutotaskExtend/ExecuteCommand.aspx?Code=OpenTicketDetail", None),
    (f"{AT}/Autotask/AutotaskExtend/ExecuteCommand.aspx?Code=OpenTicketTime&TicketID=42", None),
    (f"{AT}/Autotask/AutotaskExtend/ExecuteCommand.aspx?Code=NewTicket&TicketID=42", None),
    (f"{AT}/AutotaskOnyx/LandingPage?view-data={view_data({'url': DETAIL})}", at(53203)),
    (f"{AT}/AutotaskOnyx/LandingPage?view-data={view_data(TRICKY)}", at(53203)),  # raw "+", "/", "="
    (f"{AT}/AutotaskOnyx/LandingPage?view-data={quote(view_data(TRICKY), safe='')}", at(53203)),
    (f"{AT}/AutotaskOnyx/LandingPage?view-data={quote(quote(view_data(TRICKY), safe=''), safe='')}", at(53203)),
    (f"{AT}/AutotaskOnyx/LandingPage?view-data={view_data(TRICKY, urlsafe=True, padding=False)}", at(53203)),
    (
        f"{AT}/AutotaskOnyx/LandingPage?foo=1&VIEW-DATA="
        + view_data({"state": {"tabs": [{"n": 1}, {"href": f"{OPEN_TICKET}&TicketID=77"}]}}),
        at(77),
    ),
    (
        f"{AT}/AutotaskOnyx/LandingPage?view-data=" + view_data({"url": "/Mvc/Projects/ProjectDetail.mvc?id=5"}),
        None,
    ),
    (f"{AT}/AutotaskOnyx/LandingPage?view-data=" + view_data({"url": "/Mvc/ServiceDesk/TicketDetail.mvc"}), None),
    (f"{AT}/AutotaskOnyx/LandingPage?view-data=" + view_data({"url": "javascript:TicketDetail.mvc?ticketId=1"}), None),
    (f"{AT}/AutotaskOnyx/LandingPage?view-data=" + view_data([1, 2, None, True]), None),
    (f"{AT}/AutotaskOnyx/LandingPage?view-data=not*base64!", None),
    (f"{AT}/AutotaskOnyx/LandingPage?view-data=" + base64.b64encode(b"{not json").decode(), None),
    (f"{AT}/AutotaskOnyx/LandingPage?view-data=" + base64.b64encode(b"\xff\xfe\x00").decode(), None),
    (f"{AT}/AutotaskOnyx/LandingPage?view-data=" + base64.b64encode(b"[" * 5000).decode(), None),
    (f"{AT}/AutotaskOnyx/LandingPage?view-data=", None),
    (f"{AT}/AutotaskOnyx/LandingPage", None),
    (f"{AT}/Mvc/TimeEntry/TimeEntry.mvc?ticketId=111", None),
    (f"{HALO}/Mvc/ServiceDesk/TicketDetail.mvc?ticketId=111", None),
    # --- HaloPSA ---
    (f"{HALO}/ticket?id=501", halo(501)),
    (f"{HALO}/tickets?id=493876&view=all", halo(493876)),
    (f"{HALO}/tickets?view=all&id=12", halo(12)),
    (f"{HALO}/tickets/?id=13", halo(13)),
    ("http://halo.local:8080/ticket?id=14", halo(14)),
    ("HTTPS://ACME.HaloPSA.com/ticket?id=15", halo(15)),
    (f"{HALO}/tickets", None),
    (f"{HALO}/tickets?area=1", None),
    (f"{HALO}/tickets?id=", None),
    (f"{HALO}/tickets?id=0", None),
    (f"{HALO}/tickets?id=-3", None),
    (f"{HALO}/tickets?id=1e5", None),
    (f"{HALO}/tickets?id=99999999999", None),
    (f"{HALO}/agent/ticket?id=5", None),
    (f"{HALO}/api/tickets?id=5", None),
    (f"{HALO}/timesheet?id=5", None),
    ("http://acme.halopsa.com/ticket?id=5", None),  # wrong scheme: another origin
    ("https://acme.halopsa.com:8443/ticket?id=5", None),  # another port: another origin
    ("http://halo.local/ticket?id=14", None),
    ("https://other.halopsa.com/ticket?id=5", None),
    ("https://acme.halopsa.com.evil.example/ticket?id=5", None),
    # --- not URLs of any instance ---
    ("", None),
    ("   ", None),
    ("ticket?id=5", None),
    ("/ticket?id=5", None),
    ("acme.halopsa.com/ticket?id=5", None),
    ("javascript:alert(1)", None),
    ("data:text/html,<a href='https://acme.halopsa.com/ticket?id=5'>", None),
    ("chrome://extensions/?id=5", None),
    ("about:blank", None),
    ("http://[::1/ticket?id=5", None),
    ("https://acme.halopsa.com:99999/ticket?id=5", None),
    ("https://acme.halopsa.com:port/ticket?id=5", None),
]


@pytest.mark.parametrize(("url", "expected"), CASES)
def test_recognize(url: str, expected: TicketRef | None) -> None:
    assert recognize(url, INSTANCES) == expected


def test_table_is_wide_enough() -> None:
    assert len(CASES) >= 45
    assert sum(1 for _, ref in CASES if ref is not None) >= 20


SPA = f"{CW}/v2025_1/ConnectWise.aspx?fullscreen=false&locale=en_US#XQAAACADAAAAAAAAAABBqEgGJ"


@pytest.mark.parametrize(
    ("title", "page_ticket", "expected"),
    [
        ("", "Ticket #12345", cw(12345)),
        ("", "12345", cw(12345)),
        ("", "#12345", cw(12345)),
        ("", "  Service Ticket # 12345 ", cw(12345)),
        ("", "ticket#12345 - Printer on fire", cw(12345)),
        ("Service Ticket #777 - Manage", "Ticket #12345", cw(12345)),  # the page wins over the title
        ("Service Ticket #777 - Manage", None, cw(777)),
        ("Ticket #778", "", cw(778)),
        ("Ticket #779", "Daily Time Entries", cw(779)),  # unreadable page text: fall back on the title
        ("", "Ticket #0", None),
        ("", "Ticket #99999999999", None),
        ("", "12345abc", None),
        ("", "Time entry 12345", None),
        ("ConnectWise Manage", None, None),
        ("Ticket 12345", None, None),
        ("", None, None),
    ],
)
def test_connectwise_spa_uses_page_facts(title: str, page_ticket: str | None, expected: TicketRef | None) -> None:
    assert recognize(SPA, INSTANCES, title=title, page_ticket=page_ticket) == expected


def test_page_facts_do_not_override_the_url() -> None:
    url = f"{CW}/v4_6_release/ConnectWise.aspx?routeTo=ServiceFV&recid=5"
    assert recognize(url, INSTANCES, page_ticket="Ticket #6", title="Ticket #7") == cw(5)
    time_entry = f"{CW}/v4_6_release/ConnectWise.aspx?routeTo=TimeEntryFV&recid=5"
    assert recognize(time_entry, INSTANCES, page_ticket="Ticket #6") is None


def test_page_facts_only_matter_for_connectwise() -> None:
    assert recognize(f"{HALO}/tickets", INSTANCES, title="Ticket #5", page_ticket="5") is None
    assert recognize(f"{AT}/Mvc/ServiceDesk/TicketList.mvc", INSTANCES, page_ticket="5") is None


def test_no_instances_no_tickets() -> None:
    assert recognize(f"{HALO}/ticket?id=5", []) is None


def test_first_instance_with_the_origin_wins() -> None:
    twins = [
        InstanceConfig(name="one", kind="halopsa", origins=[HALO]),
        InstanceConfig(name="two", kind="halopsa", origins=[HALO]),
    ]
    ref = recognize(f"{HALO}/ticket?id=5", twins)
    assert ref is not None and ref.instance == "one" and ref.key == "one:5"


def test_ticket_number_ref_key() -> None:
    ref = recognize(
        f"{AT}/Autotask/AutotaskExtend/ExecuteCommand.aspx?Code=OpenTicketDetail&TicketNumber=T20240101.0001",
        INSTANCES,
    )
    assert ref is not None and ref.id is None and ref.key == "at:#T20240101.0001"


def test_ticket_id_wins_over_ticket_number() -> None:
    url = f"{OPEN_TICKET}&TicketNumber=T20240101.0001&TicketID=9"
    assert recognize(url, INSTANCES) == at(9)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://na.myconnectwise.net/v4_6_release/ConnectWise.aspx", "https://na.myconnectwise.net"),
        ("HTTPS://NA.MyConnectWise.NET", "https://na.myconnectwise.net"),
        ("https://na.myconnectwise.net:443/x", "https://na.myconnectwise.net"),
        ("http://halo.local:80/ticket", "http://halo.local"),
        ("http://halo.local:443/ticket", "http://halo.local:443"),
        ("https://halo.local:80/ticket", "https://halo.local:80"),
        ("http://halo.local:8080", "http://halo.local:8080"),
        ("https://user:pw@acme.halopsa.com/ticket?id=1", "https://acme.halopsa.com"),
        ("http://[::1]:47600/api", "http://[::1]:47600"),
        ("http://[::1]:80/api", "http://[::1]"),
        ("  https://acme.halopsa.com/  ", "https://acme.halopsa.com"),
        ("https://acme.halopsa.com#frag", "https://acme.halopsa.com"),
        ("acme.halopsa.com", None),
        ("ftp://acme.halopsa.com/", None),
        ("chrome-extension://abcdef/popup.html", None),
        ("file:///etc/passwd", None),
        ("javascript:void(0)", None),
        ("https://", None),
        ("https://:443/", None),
        ("http://[::1/", None),
        ("http://host:65536/", None),
        ("", None),
    ],
)
def test_origin_of(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


def test_configured_origins_are_normalised_like_urls() -> None:
    # INSTANCES configures "https://NA.MyConnectWise.net:443/" for ConnectWise.
    found = is_instance_origin(f"{CW}/v4_6_release/ConnectWise.aspx", INSTANCES)
    assert found is not None and found.name == "cw"
    found = is_instance_origin("HTTP://Halo.Local:8080/anything", INSTANCES)
    assert found is not None and found.name == "halo"
    assert is_instance_origin("https://ww6.autotask.net/", INSTANCES) is None
    assert is_instance_origin("not a url", INSTANCES) is None


def test_unusable_configured_origins_match_nothing() -> None:
    odd = [InstanceConfig(name="odd", kind="halopsa", origins=["", "acme.halopsa.com", "javascript:x"])]
    assert is_instance_origin(f"{HALO}/ticket?id=5", odd) is None
    assert recognize(f"{HALO}/ticket?id=5", odd) is None


def test_never_raises_on_random_strings() -> None:
    rng = random.Random(20240101)
    alphabet = string.printable + "äé€😀\x00\ufffd[]%#?&=:/@"
    prefixes = [
        "",
        f"{CW}/v4_6_release/ConnectWise.aspx?",
        f"{CW}/services/system_io/Service/fv_sr100_request.rails?service_recid=",
        f"{AT}/AutotaskOnyx/LandingPage?view-data=",
        f"{AT}/Autotask/AutotaskExtend/ExecuteCommand.aspx?Code=OpenTicketDetail&",
        f"{AT}/Mvc/ServiceDesk/TicketDetail.mvc?ticketId=",
        f"{HALO}/tickets?id=",
        "http://[",
        "https://acme.halopsa.com:",
    ]
    for _ in range(3000):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 80)))
        url = rng.choice(prefixes) + body
        title = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 20)))
        ref = recognize(url, INSTANCES, title=title, page_ticket=body)
        assert ref is None or isinstance(ref, TicketRef)
        origin_of(url)
        is_instance_origin(url, INSTANCES)


def test_never_raises_on_random_view_data() -> None:
    rng = random.Random(7)
    for _ in range(1000):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 60)))
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            url = f"{AT}/AutotaskOnyx/LandingPage?view-data={encode(raw).decode()}"
            assert recognize(url, INSTANCES) is None


def test_overlong_urls_are_not_tickets() -> None:
    assert recognize(f"{HALO}/ticket?id=5&pad=" + "x" * 40_000, INSTANCES) is None
