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


def test_repeated_failures_from_one_address_lock_that_address_for_every_account(client, db, settings):
    UserFactory(username="victim")
    for n in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": f"guess{n}", "password": "wrong"})
    locked = client.post(reverse("login"), {"username": "victim", "password": "pw-Test-12345"})
    assert locked.status_code == 429
