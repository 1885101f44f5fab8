"""Slack mrkdwn → safe HTML for the sandbox page.

Everything a message says is data: the text is HTML-escaped before any markup of ours is
added, and links keep only http(s)/mailto targets, so a customer's `<script>` shows as text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

# Slack's angle-bracket spans: links and mentions. A literal < or > arrives as &lt; / &gt;.
_SPECIAL = re.compile(r"<([^<>\n]{1,2000})>")
_PRE = re.compile(r"```(.+?)```", re.DOTALL)
_CODE = re.compile(r"`([^`\n]+)`")
# A placeholder for markup made before the formatting pass; private-use characters, which
# are stripped from the input first so text can never forge one.
_HOLE = re.compile("\ue000(\\d+)\ue001")
_PRIVATE = re.compile("[\ue000\ue001]")
_SHORTCODE = re.compile(r":([a-z0-9_+-]+):")
_SAFE_SCHEMES = ("http://", "https://", "mailto:")
_EMOJI = {
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "warning": "⚠️",
    "x": "❌",
    "eyes": "👀",
    "speech_balloon": "💬",
    "memo": "📝",
    "fire": "🔥",
    "star": "⭐",
    "tada": "🎉",
    "heart": "❤️",
    "bell": "🔔",
    "hourglass": "⌛",
    "red_circle": "🔴",
    "large_orange_circle": "🟠",
    "large_yellow_circle": "🟡",
    "white_circle": "⚪",
    "busts_in_silhouette": "👥",
    "label": "🏷️",
    "envelope": "✉️",
    "link": "🔗",
}


def _style(pattern: str, tag: str) -> tuple[re.Pattern[str], str]:
    # *bold* / _italic_ / ~strike~: the marker hugs non-space text, not inside a word.
    marker = re.escape(pattern)
    regex = re.compile(rf"(?<![\w{marker}]){marker}(?=\S)([^{marker}\n]+?)(?<=\S){marker}(?!\w)")
    return regex, f"<{tag}>\\1</{tag}>"


_STYLES = [_style("*", "b"), _style("_", "i"), _style("~", "s")]


def _escaped(slack_text: str) -> str:
    return html.escape(unescape_slack(slack_text))


def unescape_slack(text: str) -> str:
    """Slack escapes only &, < and > in message text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def link(url: str, label: str) -> str:
    label_html = html.escape(label)
    if not url.lower().startswith(_SAFE_SCHEMES):
        return label_html
    href = html.escape(url)
    return f'<a href="{href}" target="_blank" rel="noopener noreferrer">{label_html}</a>'


def _special(body: str, name_of: Callable[[str], str]) -> str:
    target, _, label = body.partition("|")
    label = unescape_slack(label)
    if target.startswith("@"):
        return f'<span class="mention">@{html.escape(label or name_of(target[1:]))}</span>'
    if target.startswith("#"):
        return f'<span class="mention">#{html.escape(label or name_of(target[1:]))}</span>'
    if target.startswith("!date^"):
        return f'<span class="date">{html.escape(label or target)}</span>'
    if target.startswith("!"):
        word = target[1:].split("^")[0]
        shown = label or ("@" + word if word in ("here", "channel", "everyone") else word)
        return f'<span class="mention">{html.escape(shown)}</span>'
    url = unescape_slack(target)
    return link(url, label or url)


def mrkdwn_to_html(text: str, name_of: Callable[[str], str] = lambda key: key) -> str:
    """Render Slack mrkdwn. `name_of` turns a user/channel id into its display name."""
    holes: list[str] = []

    def hole(markup: str) -> str:
        holes.append(markup)
        return f"\ue000{len(holes) - 1}\ue001"

    text = _PRIVATE.sub("\ufffd", text)
    text = _SPECIAL.sub(lambda m: hole(_special(m.group(1), name_of)), text)
    text = _PRE.sub(lambda m: hole(f"<pre>{_escaped(m.group(1))}</pre>"), text)
    text = _CODE.sub(lambda m: hole(f"<code>{_escaped(m.group(1))}</code>"), text)
    lines = []
    for line in text.split("\n"):
        quoted = line.startswith((">", "&gt;"))
        if quoted:
            line = line.removeprefix(">").removeprefix("&gt;").lstrip()
        rendered = html.escape(unescape_slack(line), quote=False)
        for regex, replacement in _STYLES:
            rendered = regex.sub(replacement, rendered)
        rendered = _SHORTCODE.sub(lambda m: _EMOJI.get(m.group(1), m.group(0)), rendered)
        lines.append(f"<blockquote>{rendered}</blockquote>" if quoted else rendered)
    out = "<br>".join(lines).replace("</blockquote><br>", "</blockquote>")
    return _HOLE.sub(lambda m: holes[int(m.group(1))], out)


def plain_to_html(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")
