"""dbtool: PostgreSQL migrations paired with tested rollbacks, checked before and after."""

__version__ = "0.1.0"
