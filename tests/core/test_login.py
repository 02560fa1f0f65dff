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
    for _ in range(3):
        assert login(client, "alice", "wrong").status_code == 200
    blocked = login(client, "alice", PASSWORD)  # even the right password, while blocked
    assert blocked.status_code == 429
    assert blocked["Retry-After"] == str(settings.LOGIN_RATE_WINDOW)
    assert b"Too many failed attempts" in blocked.content
    assert client.get("/").status_code == 302  # not logged in


def test_the_limit_counts_per_username_across_addresses(client, user, settings):
    settings.LOGIN_RATE_LIMIT = 3
    for i in range(3):
        login(client, "alice", "wrong", addr=f"198.51.100.{i + 1}")
    assert login(client, "alice", PASSWORD, addr="203.0.113.50").status_code == 429


def test_the_limit_counts_per_address_across_usernames(client, user, settings):
    settings.LOGIN_RATE_LIMIT = 3
    for name in ("bob", "carol", "dave"):
        login(client, name, "wrong")
    assert login(client, "alice", PASSWORD).status_code == 429
    assert login(client, "alice", PASSWORD, addr="192.0.2.99").status_code == 302


def test_a_success_resets_the_count(client, user, settings):
    settings.LOGIN_RATE_LIMIT = 3
    login(client, "alice", "wrong")
    login(client, "alice", "wrong")
    assert login(client, "alice", PASSWORD).status_code == 302
    client.logout()
    login(client, "alice", "wrong")
    login(client, "alice", "wrong")
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
