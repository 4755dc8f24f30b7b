import gzip

import pytest

from gitmine.errors import InputError, UsageError
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


def test_consecutive_snapshots_of_one_closure_share_it(tmp_path):
    snaps = load_history(SMALL_HISTORIES[0])[:3]
    path = tmp_path / "h.jsonl"
    write_history(path, [snaps[0], snaps[0], snaps[1], snaps[2], snaps[2]])
    again = [s.closure() for s in load_history(path)]
    assert again[0] is again[1] and again[3] is again[4]
    assert again[1] is not again[2] and again[2] is not again[3]


def test_a_history_of_several_images_keeps_them_apart(tmp_path):
    from gitmine.closure import Snapshot
    from gitmine.stats import compute_statistics

    a, b = load_history(SMALL_HISTORIES[0])[:2], load_history(SMALL_HISTORIES[1])[:2]
    snaps = [Snapshot(x.rev, x.date, {"web": x.closure(), "worker": y.closure()}) for x, y in zip(a, b)]
    path = tmp_path / "two.jsonl"
    write_history(path, snaps)
    again = load_history(path)
    assert [sorted(s.closures) for s in again] == [["web", "worker"], ["web", "worker"]]
    assert again[1].closures["web"].to_json() == a[1].closure().to_json()
    assert again[1].closures["worker"].to_json() == b[1].closure().to_json()
    # which image holds which key is kept: the planner gives each image its own budget
    images = compute_statistics(again).images
    assert all(images[k] == {"web"} for k in a[1].closure().keys.keys() - b[1].closure().keys.keys())


def test_gzip_data_is_read_whatever_the_name_and_a_damaged_file_is_one_error(tmp_path):
    snaps = load_history(SMALL_HISTORIES[0])[:3]
    write_history(tmp_path / "plain.jsonl", snaps)
    named = tmp_path / "h.jsonl"  # gzipped data under a plain name (a download, a renamed file)
    named.write_bytes(gzip.compress((tmp_path / "plain.jsonl").read_bytes()))
    assert [s.rev for s in load_history(named)] == [s.rev for s in snaps]
    data = bytearray(SMALL_HISTORIES[0].read_bytes())
    damaged = {
        "truncated": bytes(data[: len(data) // 2]),
        "corrupt": bytes(data[:1000]) + bytes(len(data) - 1000),  # zeros: zlib rejects the stream
    }
    for name, content in damaged.items():
        path = tmp_path / f"{name}.jsonl.gz"
        path.write_bytes(content)
        with pytest.raises(InputError, match=f"{name}.jsonl.gz: the gzip data is damaged or cut short"):
            load_history(path)


def test_a_window_that_holds_no_snapshot_says_where_the_snapshots_are():
    with pytest.raises(InputError, match=r"no snapshot in the window \(its snapshots are dated 2024-11-03 to 2026-10-25\)"):
        load_history(SMALL_HISTORIES[0], since="2026-11-01")


def test_durations_count_back_from_the_historys_latest_date_not_from_today():
    # the corpus ends on 2026-10-25: the last 26 weeks are the same 27 weekly snapshots whenever this runs
    recent = load_history(SMALL_HISTORIES[0], since="26w")
    assert (len(recent), recent[0].date[:10], recent[-1].date[:10]) == (27, "2026-04-26", "2026-10-25")
    older = load_history(SMALL_HISTORIES[0], since="1y", until="26w")
    assert (older[0].date[:10], older[-1].date[:10]) == ("2025-10-26", "2026-04-26")
    with pytest.raises(UsageError, match="--since 'soon' is not understood"):  # said before the file is read
        load_history(SMALL_HISTORIES[0].parent / "missing.jsonl", since="soon")
