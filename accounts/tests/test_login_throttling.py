"""Login throttling (django-axes): by account and by client address, a clear message, admin unlock."""

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed attempts; try again in 15 minutes or ask an administrator."


def _login(client, username, password, address="10.1.1.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_sixty_wrong_passwords_then_the_right_one_is_refused(client, owner):
    codes = [_login(client, "owner", f"wrong-{i}").status_code for i in range(60)]
    assert codes[:9] == [200] * 9 and set(codes[9:]) == {429}  # the 10th failure (AXES_FAILURE_LIMIT) locks
    right = _login(client, "owner", "owner-pass-123")
    assert right.status_code == 429 and not _logged_in(client)
    assert LOCKED in right.content.decode() and right["Retry-After"] == "900"
    assert 'name="username"' in right.content.decode()  # still the login page


def test_the_same_account_is_limited_from_another_address(client, owner):
    for i in range(10):
        _login(client, "owner", f"wrong-{i}", address=f"10.2.0.{i}")
    elsewhere = _login(client, "owner", "owner-pass-123", address="10.9.9.9")
    assert elsewhere.status_code == 429 and not _logged_in(client)


def test_one_address_trying_many_accounts_is_limited(client, owner):
    for i in range(10):
        _login(client, f"user{i}", "guess", address="10.3.3.3")
    refused = _login(client, "owner", "owner-pass-123", address="10.3.3.3")
    assert refused.status_code == 429 and not _logged_in(client)
    assert _login(client, "owner", "owner-pass-123", address="10.4.4.4").status_code == 302


def test_an_administrator_unlocks_the_account_in_the_admin(client, owner, django_user_model):
    for i in range(12):
        _login(client, "owner", f"wrong-{i}")
    assert _login(client, "owner", "owner-pass-123").status_code == 429
    admin_user = django_user_model.objects.create_superuser("root", password="root-pass-123")
    admin = type(client)()
    admin.force_login(admin_user)
    listing = admin.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200 and "owner" in listing.content.decode()
    ids = list(AccessAttempt.objects.filter(username="owner").values_list("pk", flat=True))
    done = admin.post(reverse("admin:axes_accessattempt_changelist"),
                      {"action": "delete_selected", "_selected_action": ids, "post": "yes"})
    assert done.status_code == 302 and not AccessAttempt.objects.exists()
    assert _login(client, "owner", "owner-pass-123").status_code == 302 and _logged_in(client)


def test_client_login_and_force_login_still_work(client, owner):
    # authenticate() without a request (the test client, scripts) skips the lockout check.
    assert client.login(username="owner", password="owner-pass-123")
    client.logout()
    client.force_login(owner)
    assert client.get("/").status_code == 200
