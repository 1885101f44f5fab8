"""One adapter per network. Each turns the platform's objects into `InboundMessage`s and
delivers our replies back on the network."""
