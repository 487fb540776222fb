"""The email a message request becomes: the volunteer's language around notify's text, as
plain text and as HTML in which every text is escaped."""

from __future__ import annotations

from muster_volunteer.domain.email import compose


def test_the_html_part_frames_the_text_in_the_volunteer_s_language() -> None:
    email = compose("en", "New drive: tidy-up", "Sign up by 16:00.\nBring gloves.")
    assert email.html.startswith('<!DOCTYPE html><html lang="en">')
    assert "<title>New drive: tidy-up</title>" in email.html
    assert "<p>Hello,</p>" in email.html
    assert "<p>Sign up by 16:00.<br>Bring gloves.</p>" in email.html
    assert "Muster volunteer service<br>" in email.html


def test_an_unknown_language_gets_the_chinese_frame() -> None:
    email = compose("fr", "新的志愿招募", "楼道清理")
    assert '<html lang="zh-CN">' in email.html
    assert "您好" in email.html
    assert email.text.startswith("您好")


def test_texts_are_printed_as_text_never_as_markup() -> None:
    email = compose("en", "<b>urgent</b>", "<script>alert(1)</script> & more")
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in email.html
    assert "<title>&lt;b&gt;urgent&lt;/b&gt;</title>" in email.html
