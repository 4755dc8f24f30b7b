from dataclasses import replace

from gitmine.drift import drift, markdown
from gitmine.hints import HintLayer, Hints
from gitmine.planner import plan
from gitmine.recorded import load_history
from gitmine.stats import compute_statistics
from gitmine.units import mb
from tests.conftest import SMALL_HISTORIES


def test_drift_reports_moves_savings_and_what_the_switch_reships_once():
    snaps = load_history(SMALL_HISTORIES[0])[:26]
    updated = plan(compute_statistics(snaps), 8)
    everything = tuple(sorted(k for layer in updated.layers for k in layer.keys))
    committed = Hints(updated.analysis, (HintLayer(everything, 0, 1.0, 1.0),))
    d = drift(committed, updated, snaps)
    assert d.stale and d.moved and not d.new_keys and not d.removed_keys
    assert d.pull_updated < d.pull_committed
    # every layer of the latest release is new: all of it is pulled and unpacked once
    total = snaps[-1].closure().total_size()
    assert d.switch_pull == d.switch_unpack == total
    text = markdown(d, "layer-hints.toml")
    assert "is stale" in text and f"clients pull {mb(total)}" in text
    assert f"(saving {mb(d.saving)} per release)" in text
    # the layers whose expected bytes the two files put apart, as the files record them
    assert d.layers and "| layer | committed, MB | updated, MB |" in text
    assert f"| 1 | {d.layers[0][1] / 1e6:.2f} | {d.layers[0][2] / 1e6:.2f} |" in text
    # the other way round (a worse file replacing a better one, as fewer layers do): more bytes, said so
    worse = drift(updated, committed, snaps)
    assert worse.saving < 0 and f"({mb(-worse.saving)} more per release)" in markdown(worse, "x")
    same = drift(updated, updated, snaps)
    assert not same.stale and same.switch_pull == same.switch_unpack == 0 and "up to date" in markdown(same, "x")


def test_a_hint_file_with_the_old_unseen_rule_is_stale():
    snaps = load_history(SMALL_HISTORIES[0])[:26]
    updated = plan(compute_statistics(snaps), 8)
    old = Hints(updated.analysis, updated.layers, unseen_rule="top")
    d = drift(old, updated, snaps)
    assert d.stale and not d.moved and d.unseen_rule == ("top", "referrers")
    assert d.as_dict()["unseen_rule"] == {"from": "top", "to": "referrers"}
    assert 'follow `unseen.rule = "top"`; gitmine now writes `"referrers"`' in markdown(d, "x")
    assert drift(updated, updated, snaps).as_dict()["unseen_rule"] is None


def test_a_hint_file_made_for_another_budget_is_stale_and_says_so():
    snaps = load_history(SMALL_HISTORIES[0])[:26]
    stats = compute_statistics(snaps)
    committed, updated = plan(stats, 6), plan(stats, 8)
    d = drift(committed, updated, snaps)
    assert d.stale and d.budget == (6, 8) and d.as_dict()["max_layers"] == {"from": 6, "to": 8}
    assert "The committed file was made for 6 layers; this analysis asks for 8" in markdown(d, "x")
    # the same layers under another recorded budget (more than the keys need): stale for the budget alone
    roomy = Hints(replace(updated.analysis, max_layers=100), updated.layers)
    alone = drift(roomy, updated, snaps)
    assert alone.stale and alone.budget == (100, 8) and not alone.moved and alone.switch_pull == 0
    assert drift(updated, updated, snaps).budget is None
