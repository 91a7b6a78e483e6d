from __future__ import annotations

from django.urls import reverse

from tests.conftest import UserFactory


def test_repeated_failed_logins_lock_the_account(client, db, settings):
    UserFactory(username="someone")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "someone", "password": "wrong"})
    locked = client.post(reverse("login"), {"username": "someone", "password": "pw-Test-12345"})
    assert locked.status_code == 429
    assert "Tạm khóa" in locked.content.decode()


def test_correct_password_signs_in(client, db):
    UserFactory(username="someone2")
    response = client.post(reverse("login"), {"username": "someone2", "password": "pw-Test-12345"})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_seed_demo_json_lists_users_for_every_role(db, capsys):
    import json

    from django.core.management import call_command

    call_command("seed_demo", "--json")
    call_command("seed_demo", "--json")
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    roles = {u["role"] for u in report["users"]}
    assert {"admin", "clerk", "chair", "leader", "operator"} <= roles
    assert any(u["username"] == "vanthu.vanchan" and u["unit"] == "140" for u in report["users"])
    assert report["urls"]["login"].endswith("/login/")


def _fail(client, username, n, **meta):
    for _ in range(n):
        client.post(reverse("login"), {"username": username, "password": "wrong"}, **meta)


def _sign_in(client, username, **meta):
    return client.post(
        reverse("login"), {"username": username, "password": "pw-Test-12345"}, **meta
    )


def test_five_typos_by_others_from_one_address_do_not_lock_anyone_else(client, db, settings):
    """Behind a proxy everyone shares one address: one clerk's typos lock only that clerk."""
    UserFactory(username="victim")
    for n in range(settings.AXES_FAILURE_LIMIT):
        _fail(client, f"guess{n}", 1)
    _fail(client, "typist", settings.AXES_FAILURE_LIMIT)
    assert _sign_in(client, "victim").status_code == 302


def test_failures_lock_the_username_and_address_pair_only(client, db, settings):
    UserFactory(username="someone")
    _fail(client, "someone", settings.AXES_FAILURE_LIMIT, REMOTE_ADDR="10.1.1.1")
    assert _sign_in(client, "someone", REMOTE_ADDR="10.1.1.1").status_code == 429
    assert _sign_in(client, "someone", REMOTE_ADDR="10.2.2.2").status_code == 302


def test_many_failures_across_usernames_lock_the_address(client, db, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 12
    UserFactory(username="victim")
    for n in range(12):
        _fail(client, f"spray{n}", 1, REMOTE_ADDR="10.3.3.3")
    assert _sign_in(client, "victim", REMOTE_ADDR="10.3.3.3").status_code == 429
    assert _sign_in(client, "victim", REMOTE_ADDR="10.4.4.4").status_code == 302


def test_forwarded_address_is_ignored_unless_the_proxy_is_trusted(client, db, settings):
    """A client cannot pick its address with X-Forwarded-For: the lock stays on the pair it has."""
    settings.TRUSTED_PROXY_NETWORKS = []
    UserFactory(username="someone")
    for n in range(settings.AXES_FAILURE_LIMIT):
        _fail(client, "someone", 1, REMOTE_ADDR="10.5.5.5", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert (
        _sign_in(
            client, "someone", REMOTE_ADDR="10.5.5.5", HTTP_X_FORWARDED_FOR="192.0.2.99"
        ).status_code
        == 429
    )


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_lock(client, db, settings):
    import ipaddress

    settings.TRUSTED_PROXY_NETWORKS = [ipaddress.ip_network("10.9.0.0/16")]
    UserFactory(username="someone")
    proxy = {"REMOTE_ADDR": "10.9.0.1"}
    _fail(
        client,
        "someone",
        settings.AXES_FAILURE_LIMIT,
        HTTP_X_FORWARDED_FOR="192.0.2.7, 10.9.0.2",
        **proxy,
    )
    assert _sign_in(client, "someone", HTTP_X_FORWARDED_FOR="192.0.2.7", **proxy).status_code == 429
    assert _sign_in(client, "someone", HTTP_X_FORWARDED_FOR="192.0.2.8", **proxy).status_code == 302
    # Only the right-most untrusted hop counts: a spoofed left-most entry changes nothing.
    client.logout()
    assert (
        _sign_in(
            client, "someone", HTTP_X_FORWARDED_FOR="203.0.113.1, 192.0.2.7", **proxy
        ).status_code
        == 429
    )


def test_trusted_proxies_setting_rejects_a_bad_value():
    from tests.portal.test_settings import _start

    result = _start({"TRUSTED_PROXIES": "10.0.0.0/8,not-an-address"})
    assert result.returncode != 0 and "TRUSTED_PROXIES" in result.stderr
