"""offline sync: a flag on inspections stored although something changed while the phone was offline

Revision ID: offline_sync
Revises: 0001
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "offline_sync"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inspection") as batch:
        batch.add_column(
            sa.Column("flag", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("inspection") as batch:
        batch.drop_column("flag")
