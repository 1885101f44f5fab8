"""lookup and digest indexes

`/crm lookup` by handle (on lower(handle), the expression the lookup uses), profile URL and
post URL, by name newest first (updated_at with the name, read from the index alone), and
the card's count of merged records; the digest's daily counts (created_at,
status), replies per agent (created_at, direction, author_slack_id: read from the index
alone) and influencer check (identity followers, message author). The two composite
indexes replace the created_at-only ones of 0006, whose queries they also serve.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.create_index("ix_customer_merged_into_id", ["merged_into_id"], unique=False)
        batch_op.create_index("ix_customer_updated_name", ["updated_at", "name"], unique=False)

    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.create_index("ix_identity_profile_url", ["profile_url"], unique=False)
        batch_op.create_index("ix_identity_followers", ["followers"], unique=False)
        batch_op.create_index(
            "ix_identity_updated_display_name",
            ["updated_at", "display_name", "customer_id"],
            unique=False,
        )
    op.create_index("ix_identity_handle_lower", "identity", [sa.text("lower(handle)")])

    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_created_status", ["created_at", "status"], unique=False
        )
        batch_op.create_index("ix_conversation_url", ["url"], unique=False)
        batch_op.drop_index("ix_conversation_created")

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_message_created_direction",
            ["created_at", "direction", "author_slack_id"],
            unique=False,
        )
        batch_op.create_index("ix_message_author_identity", ["author_identity_id"], unique=False)
        batch_op.drop_index("ix_message_created")


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index("ix_message_created", ["created_at"], unique=False)
        batch_op.drop_index("ix_message_author_identity")
        batch_op.drop_index("ix_message_created_direction")

    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.create_index("ix_conversation_created", ["created_at"], unique=False)
        batch_op.drop_index("ix_conversation_url")
        batch_op.drop_index("ix_conversation_created_status")

    op.drop_index("ix_identity_handle_lower", table_name="identity")
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_updated_display_name")
        batch_op.drop_index("ix_identity_followers")
        batch_op.drop_index("ix_identity_profile_url")

    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_updated_name")
        batch_op.drop_index("ix_customer_merged_into_id")
