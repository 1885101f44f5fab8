"""A local Slack: the Web API subset Threadline uses (a real HTTP server the real `WebClient`
talks to) and a driver that signs and posts Events/Interactivity payloads as Slack does.

The test suite uses it as its Slack fake; `threadline sandbox` runs the bot against it.
"""

from bot.slack_emulator.driver import DriverResponse, SlackDriver
from bot.slack_emulator.server import FakeSlack
from bot.slack_emulator.validation import ApiError

# The same class under a production name: nothing about it is test-only.
SlackEmulator = FakeSlack

__all__ = ["ApiError", "DriverResponse", "FakeSlack", "SlackDriver", "SlackEmulator"]
