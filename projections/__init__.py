"""Read models of the ledger: the tree, rosters, reports and audit trails, rebuilt from events."""

from projections.read_models import ReadModels, rebuild

# The read models, by the name `dangvien rebuild NAME` takes. The tree, rosters, reports and the
# audit index are one projection: reports attribute facts by the tree as it stood on their day,
# so they are applied together, in one transaction per batch, with one tracking position.
READ_MODELS = ("views",)

__all__ = ["READ_MODELS", "ReadModels", "rebuild"]
