"""A person signs in on a phone and lands on their role's home; a wrong password says so."""

from tests.clients import sign_in


def test_sign_in_and_out_on_a_phone(live_server, phone, make_user):
    user = make_user("office")
    sign_in(phone, live_server, user.username)
    assert phone.url.endswith("/dashboard")
    phone.click("text=退出")
    phone.wait_for_url("**/login")
    assert phone.locator("h1").inner_text() == "登录"


def test_wrong_password_shows_a_message_and_no_horizontal_scroll(live_server, phone, make_user):
    user = make_user("inspector")
    phone.goto(f"{live_server}/login")
    phone.fill("input[name=username]", user.username)
    phone.fill("input[name=password]", "wrong-password")
    phone.click("button[type=submit]")
    assert "用户名或密码错误" in phone.locator(".alert").inner_text()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
