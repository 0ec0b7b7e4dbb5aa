"""The web UI's sign-in in-process: cookies, CSRF, redirects, sign-out, and that a UI
session and an API token are never each other. Pages render from a stubbed service
layer (test_ui_pages.py); the browser tests run the same against the real stack."""

from __future__ import annotations

import re
import time

import pytest

from llm_observatory.api.auth import mint_token
from llm_observatory.api.ui import session as sessions
from llm_observatory.core.settings import ApiSettings, InsecureConfiguration
from tests.unit.test_ui_pages import PASSWORD, login_token, make_ui, sign_in, stub_service


@pytest.fixture
def api(monkeypatch):
    stub_service(monkeypatch)
    return make_ui(rate_limit_requests=3)


def set_cookie_headers(response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


def csrf_of(client) -> str:
    page = client.get("/traces")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def test_a_page_without_a_session_redirects_to_login_keeping_where_it_was_going(api):
    client, *_ = api
    response = client.get("/sessions/abc?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fsessions%2Fabc%3Fx%3D1"
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_static_files_and_the_json_api_do_not_redirect(api):
    client, *_ = api
    assert client.get("/ui/static/ui.css").status_code == 200
    assert client.get("/api/v1/models").status_code == 401  # bearer tokens, as before
    assert client.get("/health").status_code in {200, 503}


def test_sign_in_sets_an_httponly_samesite_strict_session_cookie(api):
    client, settings, _ = api
    response = sign_in(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/traces"
    cookie = set_cookie_headers(response)[sessions.SESSION_COOKIE]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie
    assert f"Max-Age={settings.ui_session_ttl}" in cookie
    assert "Secure" not in cookie  # plain http on a laptop
    assert client.get("/traces").status_code == 200


def test_cookies_are_secure_when_configured(monkeypatch):
    stub_service(monkeypatch)
    client, *_ = make_ui(ui_cookie_secure=True)
    page = client.get("/login")
    login_cookie = set_cookie_headers(page)[sessions.LOGIN_CSRF_COOKIE]
    assert "Secure" in login_cookie
    # The test client keeps Secure cookies to https: hand the login cookie over by hand.
    value = login_cookie.split(";", 1)[0].split("=", 1)[1]
    response = client.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": value},
        headers={"cookie": f"{sessions.LOGIN_CSRF_COOKIE}={value}"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert "Secure" in set_cookie_headers(response)[sessions.SESSION_COOKIE]


def test_the_login_form_carries_a_token_matching_its_own_cookie(api):
    client, *_ = api
    page = client.get("/login")
    cookie = set_cookie_headers(page)[sessions.LOGIN_CSRF_COOKIE]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/login" in cookie
    value = page.cookies[sessions.LOGIN_CSRF_COOKIE]
    assert f'name="csrf_token" value="{value}"' in page.text


@pytest.mark.parametrize(
    ("user", "password"), [("admin", "wrong"), ("root", PASSWORD), ("admin", ""), ("", "")]
)
def test_wrong_credentials_are_refused_without_a_session(api, user, password):
    client, *_ = api
    response = sign_in(client, password=password, user=user)
    assert response.status_code == 401
    assert "Wrong user name or password" in response.text
    assert sessions.SESSION_COOKIE not in set_cookie_headers(response)
    assert client.get("/traces", follow_redirects=False).status_code == 303


def test_sign_in_without_the_forms_token_is_refused(api):
    client, *_ = api
    login_token(client)
    response = client.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert sessions.SESSION_COOKIE not in set_cookie_headers(response)
    client.cookies.clear()  # a cross-site form has no login cookie either
    response = client.post(
        "/login", data={"username": "admin", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403


def test_a_post_from_another_origin_is_refused_even_with_a_valid_token(api):
    client, *_ = api
    assert sign_in(client, origin="https://evil.example").status_code == 403
    assert sign_in(client, **{"sec-fetch-site": "cross-site"}).status_code == 403
    assert sign_in(client, origin="http://testserver").status_code == 303


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", ""],
)
def test_after_sign_in_the_browser_only_ever_goes_to_a_path_of_this_site(api, target):
    client, *_ = api
    response = sign_in(client, next_path=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_a_session_token_is_no_api_token_and_an_api_token_is_no_session(api):
    client, settings, _ = api
    sign_in(client)
    session_token = client.cookies[sessions.SESSION_COOKIE]
    refused = client.get("/api/v1/models", headers={"Authorization": f"Bearer {session_token}"})
    assert refused.status_code == 401
    client.cookies.clear()
    client.cookies.set(sessions.SESSION_COOKIE, mint_token("admin", 60, settings))
    assert client.get("/traces", follow_redirects=False).status_code == 303


def test_expired_forged_and_foreign_sessions_redirect_to_login(api):
    client, settings, _ = api
    old = sessions.mint(settings, "admin", now=time.time() - settings.ui_session_ttl - 60)
    other = ApiSettings(jwt_secret="another-secret-" * 4, ui_admin_password=PASSWORD)
    for token in (old, sessions.mint(other, "admin"), sessions.mint(settings, "mallory"), "x"):
        client.cookies.set(sessions.SESSION_COOKIE, token)
        assert client.get("/traces", follow_redirects=False).status_code == 303, token


def test_a_session_past_half_its_life_is_renewed(api):
    client, settings, _ = api
    aged = sessions.mint(settings, "admin", now=time.time() - settings.ui_session_ttl * 0.6)
    client.cookies.set(sessions.SESSION_COOKIE, aged)
    response = client.get("/traces")
    assert response.status_code == 200
    renewed = response.cookies.get(sessions.SESSION_COOKIE)
    assert renewed and renewed != aged
    assert sessions.read(settings, renewed).expires_at > time.time() + settings.ui_session_ttl * 0.9
    fresh = client.get("/traces")
    assert sessions.SESSION_COOKIE not in set_cookie_headers(fresh)


def test_sign_out_needs_the_csrf_token(api):
    client, *_ = api
    sign_in(client)
    refused = client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/traces").status_code == 200  # still signed in
    other_origin = client.post(
        "/logout",
        data={"csrf_token": csrf_of(client)},
        headers={"origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert other_origin.status_code == 403


def test_sign_out_clears_the_cookie_and_ends_the_session_for_good(api):
    client, *_ = api
    sign_in(client)
    token = client.cookies[sessions.SESSION_COOKIE]
    response = client.post("/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?signed_out=1"
    cleared = set_cookie_headers(response)[sessions.SESSION_COOKIE]
    assert "Max-Age=0" in cleared
    assert client.get("/login?signed_out=1").text.count("You are signed out") == 1
    # A copy of the old cookie no longer works: the session id is remembered as ended.
    client.cookies.set(sessions.SESSION_COOKIE, token)
    assert client.get("/traces", follow_redirects=False).status_code == 303


def test_sign_in_attempts_are_limited_per_address(api):
    client, *_ = api
    statuses = [sign_in(client, password="guess").status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    limited = sign_in(client)  # even the right password waits now
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1


def test_an_empty_admin_password_disables_sign_in(monkeypatch):
    stub_service(monkeypatch)
    client, *_ = make_ui(ui_admin_password="")
    assert "Sign-in is disabled" in client.get("/login").text
    assert sign_in(client, password="").status_code == 401


def test_a_huge_form_is_refused_cleanly(api):
    client, *_ = api
    login_token(client)
    response = client.post("/login", content=b"a=" + b"x" * 20_000, follow_redirects=False)
    assert response.status_code == 413


def test_production_refuses_the_development_ui_password(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    settings = ApiSettings(jwt_secret="s" * 40)
    assert "UI_ADMIN_PASSWORD" in settings.insecure_defaults()
    with pytest.raises(InsecureConfiguration, match="UI_ADMIN_PASSWORD"):
        settings.check_production()
    chosen = ApiSettings(jwt_secret="s" * 40, ui_admin_password="a-real-password-1234")
    assert "UI_ADMIN_PASSWORD" not in chosen.insecure_defaults()
    assert "UI_ADMIN_PASSWORD" not in ApiSettings(ui_enabled=False).insecure_defaults()


def test_password_check_is_exact():
    settings = ApiSettings(ui_admin_user="admin", ui_admin_password=PASSWORD)
    assert sessions.check_password(settings, "admin", PASSWORD)
    assert not sessions.check_password(settings, "admin", PASSWORD + " ")
    assert not sessions.check_password(settings, "Admin", PASSWORD)
    assert not sessions.check_password(settings, "admin", PASSWORD[:-1])
