"""What happens on each event: plain functions over a database session and typed inputs.

Nothing here opens a socket or reads an environment variable.
"""
