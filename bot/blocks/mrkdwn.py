"""Making untrusted text safe for Slack's mrkdwn."""

from __future__ import annotations


def escape(text: str) -> str:
    """Escape exactly what Slack asks: `&`, `<`, `>`.

    That neutralises `<!channel>`, `<@U…>` and `<https://evil|click>` while leaving every
    script and emoji untouched.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
