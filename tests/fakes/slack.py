"""Moved to `bot.slack_emulator.server` (the sandbox runs the bot against it too).

This module is an alias of that one, so every existing
`from tests.fakes.slack import ...`
(private names included) and every monkeypatch of it keeps working unchanged.
"""

import sys

from bot.slack_emulator import server as _moved

sys.modules[__name__] = _moved
