"""Moved to `bot.slack_emulator.methods` (the sandbox runs the bot against it too).

This module is an alias of that one, so every existing
`from tests.fakes.slack_methods import ...`
(private names included) and every monkeypatch of it keeps working unchanged.
"""

import sys

from bot.slack_emulator import methods as _moved

sys.modules[__name__] = _moved
