"""Tables: CSV and Parquet for every result."""
from __future__ import annotations

from pathlib import Path

from ..errors import MgfluxError


def write_parquet(df, path) -> Path:
    """A DataFrame as Parquet, or a clear error naming the extra that provides it."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise MgfluxError(f'cannot write {path}: Parquet needs pandas and pyarrow (pip install "mgflux[parquet]"); '
                          "or use --format csv") from None
    df.to_parquet(path, index=False)
    return Path(path)
