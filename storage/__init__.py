"""Persistence: SQLModel tables, engine/session setup and Alembic migrations.

Knows nothing about Slack or the social networks.
"""
