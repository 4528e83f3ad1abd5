"""The one database engine and the session scope every service function uses.

The URL comes from ``DATABASE_URL`` (default: ``shop.db`` SQLite in the working directory), so
the same code runs on SQLite in development and on PostgreSQL behind a split stack. A plain
``postgresql://`` URL is routed to the psycopg 3 driver that requirements.txt installs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    """Declarative base shared by every domain's models (each domain owns its own tables)."""


def database_url() -> str:
    url = os.environ.get("DATABASE_URL", "sqlite:///shop.db")
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # FastAPI runs sync handlers in a thread pool: SQLite must accept other threads.
        return create_engine(url, connect_args={"check_same_thread": False})
    return create_engine(url, pool_pre_ping=True)


engine = _make_engine(database_url())
SessionLocal = sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A transaction: committed when the block ends normally, rolled back on an exception."""
    session = SessionLocal()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def init_db() -> None:
    """Create the tables of every model imported so far (each process creates only its own)."""
    Base.metadata.create_all(engine, checkfirst=True)
