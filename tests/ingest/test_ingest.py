"""The ingest door (emergence.ingest): format detection and files no reader can read."""

import pytest

from emergence.errors import EmergenceError
from emergence.ingest import ingest


@pytest.mark.parametrize("content", ["", "\n", "a,b\n1,2\n", "task,metric\n\x00\x01", "\xff\xfe"])
def test_unreadable_files(tmp_path, store, content):
    path = tmp_path / "x.csv"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(EmergenceError):
        ingest(store, path, "tidy")


def test_unknown_paths_and_formats(tmp_path, store):
    with pytest.raises(EmergenceError, match="no such file or folder"):
        ingest(store, tmp_path / "nope")
    (tmp_path / "x.parquet").write_text("")
    with pytest.raises(EmergenceError, match="give --format"):
        ingest(store, tmp_path / "x.parquet")
    with pytest.raises(EmergenceError, match="unknown format"):
        ingest(store, tmp_path / "x.parquet", "parquet")
