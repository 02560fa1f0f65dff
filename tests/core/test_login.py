"""Staff login through the form, and its rate limit."""

from __future__ import annotations

import pytest

from tests.core.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def user():
    return UserFactory(username="alice", role="Viewer")


def login(client, username: str, password: str, addr: str = "192.0.2.10"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=addr)


def test_a_user_logs_in_through_the_form_and_lands_on_the_overview(client, user):
    response = login(client, "alice", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_wrong_password_shows_the_form_again(client, user):
    response = login(client, "alice", "wrong")
    assert response.status_code == 200
    assert b"didn't match" in response.content


def test_login_answers_429_after_too_many_failures(client, user, settings):
    settings.LOGIN_RATE_LIMIT = 3
    for _ in range(2):
        assert login(client, "alice", "wrong").status_code == 200
    assert login(client, "alice", "wrong").status_code == 429  # the third failure locks the address
    blocked = login(client, "alice", PASSWORD)  # even the right password, while blocked
    assert blocked.status_code == 429
    assert blocked["Retry-After"] == str(settings.LOGIN_RATE_WINDOW)
    assert b"Too many failed attempts" in blocked.content
    assert client.get("/").status_code == 302  # not logged in


def test_failures_from_one_address_never_lock_the_user_out_from_another(client, user, settings):
    settings.LOGIN_RATE_LIMIT = 5
    for _ in range(5):
        login(client, "alice", "wrong", addr="198.51.100.1")
    assert login(client, "alice", PASSWORD, addr="198.51.100.1").status_code == 429
    assert login(client, "alice", PASSWORD, addr="203.0.113.50").status_code == 302


def test_the_limit_counts_per_address_across_usernames(client, user, settings):
    settings.LOGIN_RATE_LIMIT = 3
    for name in ("bob", "carol", "dave"):
        login(client, name, "wrong")
    assert login(client, "alice", PASSWORD).status_code == 429
    assert login(client, "alice", PASSWORD, addr="192.0.2.99").status_code == 302


def test_a_spray_with_a_valid_login_every_fourth_try_is_still_throttled(client, user, settings):
    """40 usernames from one address, the attacker's own valid login every 4th: successes reset nothing."""
    settings.LOGIN_RATE_LIMIT = 5
    answers = []
    for i in range(40):
        if i % 4 == 3:
            answers.append(login(client, "alice", PASSWORD).status_code)
            client.logout()
        answers.append(login(client, f"user{i}", "wrong").status_code)
    assert answers.count(429) >= 40 - 5
    assert 429 in answers[:10]


def test_an_admin_unlocks_an_address_by_deleting_its_access_attempt(client, user, settings):
    from axes.models import AccessAttempt

    settings.LOGIN_RATE_LIMIT = 3
    for _ in range(3):
        login(client, "alice", "wrong")
    assert login(client, "alice", PASSWORD).status_code == 429
    attempt = AccessAttempt.objects.get(ip_address="192.0.2.10")
    admin = UserFactory(username="root", role="Admin")
    client.force_login(admin)
    page = client.get("/admin/axes/accessattempt/")
    assert page.status_code == 200 and b"192.0.2.10" in page.content
    client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"}, REMOTE_ADDR="192.0.2.77")
    client.logout()
    assert login(client, "alice", PASSWORD).status_code == 302


def test_logout_is_a_post_and_ends_the_session(client, user):
    login(client, "alice", PASSWORD)
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_staff_can_still_log_in_while_redis_is_down(client, user, throwaway_redis):
    throwaway_redis.terminate()
    throwaway_redis.wait(timeout=10)
    response = login(client, "alice", PASSWORD)
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_the_lockout_page_keeps_the_username_and_says_why(client, user, settings):
    settings.LOGIN_RATE_LIMIT = 2
    for _ in range(2):
        login(client, "alice", "wrong")
    response = login(client, "alice", "wrong")
    assert response.status_code == 429
    assert b'value="alice"' in response.content and b"Too many failed attempts" in response.content
    assert b"didn't match" not in response.content
