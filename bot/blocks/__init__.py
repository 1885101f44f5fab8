"""Block Kit builders: pure functions, data in, dict out. One module per Slack surface."""
