"""SSRF: where webhooks may go, checked at registration (422 naming the
field, nothing created) and again at every delivery, connecting to the
address that was checked (DNS rebinding). Names resolve through a stub: no
test here reaches any address but loopback."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.webhooks.conftest import commit_event, make_endpoint
from webhooks import ssrf
from webhooks.models import Delivery, WebhookEndpoint
from webhooks.worker import Worker

PUBLIC = "93.184.216.34"


class StubDns:
    def __init__(self, **names: str):
        self.names = {k.replace("_", "."): [v] for k, v in names.items()}
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host in self.names:
            return self.names[host]
        try:
            return [str(__import__("ipaddress").ip_address(host))]
        except ValueError:
            raise OSError(f"no such host {host}") from None


@pytest.fixture
def dns(monkeypatch):
    stub = StubDns()
    monkeypatch.setattr(ssrf, "resolver", stub)
    return stub


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "metadata"),
    ],
)
def test_inside_addresses_are_refused(address, reason):
    assert reason in ssrf.forbidden_reason(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert ssrf.forbidden_reason(address) is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/x",
        "https://user:pw@hooks.example.com/x",
        "https://hooks.example.com/x#frag",
        "https:///x",
        "https://hooks.example.com:0/x",
        "https://hooks.example.com:70000/x",
        "https://[::1]/x",
        "https://hooks example.com/x",
        "https://hooks.example.com/a b",
        "https://hooks.example.com/x\n",
        "hooks.example.com/x",
    ],
)
def test_malformed_urls_are_refused(url, dns):
    with pytest.raises(ssrf.UnsafeUrl):
        ssrf.vet(url)


def test_http_only_for_allow_listed_hosts(dns, settings):
    dns.names["hooks.example.com"] = [PUBLIC]
    settings.ARCADIA_WEBHOOK_ALLOW_HOSTS = []
    with pytest.raises(ssrf.UnsafeUrl, match="https"):
        ssrf.vet("http://hooks.example.com/x")
    assert ssrf.vet("https://hooks.example.com/x").address == PUBLIC


def test_every_address_of_a_name_must_be_public(dns, settings):
    settings.ARCADIA_WEBHOOK_ALLOW_HOSTS = []
    dns.names["mixed.example.com"] = [PUBLIC, "10.0.0.7"]
    with pytest.raises(ssrf.UnsafeUrl, match=r"10\.0\.0\.7"):
        ssrf.vet("https://mixed.example.com/")


def test_the_target_keeps_the_host_name_for_tls_and_host_header(dns):
    dns.names["hooks.example.com"] = [PUBLIC]
    target = ssrf.vet("https://Hooks.Example.com:8443/in?x=1")
    assert (target.host, target.port, target.path, target.address) == (
        "hooks.example.com",
        8443,
        "/in?x=1",
        PUBLIC,
    )
    assert target.host_header == "hooks.example.com:8443"
    from webhooks.sender import Sender

    pool = Sender()._pool(target)
    assert pool.host == PUBLIC  # the connection goes to the checked address
    assert pool.conn_kw["server_hostname"] == "hooks.example.com"  # SNI
    assert pool.assert_hostname == "hooks.example.com"  # certificate checked on the name
    assert pool.cert_reqs == "CERT_REQUIRED"


# ---- registration through the API -------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "names", "message"),
    [
        ("https://127.0.0.1/hook", {}, "loopback"),
        ("https://localhost/hook", {"localhost": "127.0.0.1"}, "loopback"),
        ("https://intranet.example.com/hook", {"intranet.example.com": "10.0.0.5"}, "private"),
        ("https://169.254.169.254/latest/meta-data", {}, "metadata"),
        ("https://meta.example.com/", {"meta.example.com": "fd00:ec2::254"}, "metadata"),
        ("https://cgnat.example.com/", {"cgnat.example.com": "100.100.100.200"}, "NAT"),
        ("https://nowhere.example.com/", {}, "does not resolve"),
        ("http://hooks.example.com/", {"hooks.example.com": PUBLIC}, "https"),
    ],
)
def test_registration_refuses_unsafe_urls(tenant_client, dns, settings, url, names, message):
    settings.ARCADIA_WEBHOOK_ALLOW_HOSTS = []
    dns.names.update({k: [v] for k, v in names.items()})
    response = tenant_client.post(
        "/api/v1/webhook-endpoints", data=json.dumps({"url": url}), content_type="application/json"
    )
    assert response.status_code == 422, response.content
    [text] = response.json()["error"]["url"]
    assert message in text
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_registration_accepts_a_public_https_url(tenant_client, dns, settings):
    settings.ARCADIA_WEBHOOK_ALLOW_HOSTS = []
    dns.names["hooks.example.com"] = [PUBLIC]
    response = tenant_client.post(
        "/api/v1/webhook-endpoints",
        data=json.dumps({"url": "https://hooks.example.com/arcadia"}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert WebhookEndpoint.objects.get().url == "https://hooks.example.com/arcadia"


@pytest.mark.django_db
def test_changing_the_url_is_checked_too(tenant_client, dns, settings, tenant):
    dns.names["hooks.example.com"] = [PUBLIC]
    dns.names["intranet.example.com"] = ["192.168.0.10"]
    endpoint, _ = make_endpoint(tenant, "https://hooks.example.com/in")
    settings.ARCADIA_WEBHOOK_ALLOW_HOSTS = []
    response = tenant_client.patch(
        f"/api/v1/webhook-endpoints/{endpoint.pk}",
        data=json.dumps({"url": "https://intranet.example.com/in"}),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "private" in response.json()["error"]["url"][0]
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/in"


# ---- at delivery -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_name_rebound_to_an_inside_address_is_not_contacted(tenant, receiver, dns, settings):
    """Public when registered, 127.0.0.1 when delivered: refused, nothing
    connects, the attempt fails and is retried later."""
    dns.names["rebind.example.com"] = [PUBLIC]
    settings.ARCADIA_WEBHOOK_ALLOW_HOSTS = []
    make_endpoint(tenant, f"https://rebind.example.com:{receiver.port}/hooks")
    dns.names["rebind.example.com"] = ["127.0.0.1"]
    commit_event(tenant, uuid.uuid4())
    Worker(concurrency=1, listen=False).run(once=True)
    delivery = Delivery.objects.get()
    assert delivery.status == "pending"
    assert delivery.last_status_code is None
    assert delivery.last_error.startswith(
        "refused: The host rebind.example.com resolves to 127.0.0.1"
    )
    assert receiver.hits == []


@pytest.mark.django_db(transaction=True)
def test_delivery_connects_to_the_checked_address_with_the_url_host(
    tenant, receiver, dns, settings
):
    """The name is looked up once per check and the connection goes to that
    address (here loopback, allow-listed); the Host header stays the URL's."""
    dns.names["hooks.test"] = ["127.0.0.1"]
    settings.ARCADIA_WEBHOOK_ALLOW_HOSTS = ["hooks.test"]
    make_endpoint(tenant, f"http://hooks.test:{receiver.port}/hooks", receiver=receiver)
    commit_event(tenant, uuid.uuid4())
    asked = len(dns.asked)
    Worker(concurrency=1, listen=False).run(once=True)
    [hit] = receiver.answered()
    assert hit.headers["host"] == f"hooks.test:{receiver.port}"
    assert dns.asked[asked:] == ["hooks.test"]
    assert Delivery.objects.get().status == "succeeded"
