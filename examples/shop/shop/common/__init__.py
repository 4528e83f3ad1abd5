"""Utilities every domain uses: database session, ids, money arithmetic, errors, clock."""
