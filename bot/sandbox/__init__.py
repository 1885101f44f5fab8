"""`threadline sandbox`: Threadline against a local Slack emulator, worked in a browser."""
