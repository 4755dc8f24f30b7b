import gzip

from gitmine.recorded import load_history, write_history
from tests.conftest import SMALL_HISTORIES


def test_recorded_histories_round_trip_plain_and_gzipped(tmp_path):
    snaps = load_history(SMALL_HISTORIES[0])[:5]
    for name in ("h.jsonl", "h.jsonl.gz"):
        path = tmp_path / name
        write_history(path, snaps)
        again = load_history(path)
        assert [(s.rev, s.date, s.closure().to_json()) for s in again] == [(s.rev, s.date, s.closure().to_json()) for s in snaps]
    # gzipped when asked, and byte-identical from one write to the next (no timestamp in the header)
    first = (tmp_path / "h.jsonl.gz").read_bytes()
    assert gzip.decompress(first) == (tmp_path / "h.jsonl").read_bytes()
    write_history(tmp_path / "h.jsonl.gz", snaps)
    assert (tmp_path / "h.jsonl.gz").read_bytes() == first
