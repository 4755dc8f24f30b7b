from datetime import date, timedelta

import pytest

from gitmine.baselines import autolayer
from gitmine.closure import Snapshot, build_closure
from gitmine.hints import HintLayer, Hints
from gitmine.layout import layout
from gitmine.planner import forecast, forecast_layout, own_rates, plan
from gitmine.recorded import load_history
from gitmine.replay import replay
from gitmine.stats import compute_statistics
from tests.conftest import SMALL_HISTORIES, snapshot, sp, two_images


def _history(n: int = 30):
    """base (stable, big), lib (updated every 5th release), app (every release, small)."""
    snaps = []
    for i in range(n):
        base = sp("base-1.0", 1_000_000)
        lib = sp(f"lib-1.{i // 5}", 100_000, (base.path,), h="abcdefgh"[(i // 5) % 8])
        app = sp(f"app-{i}", 1_000, (lib.path,), h="0123456789"[i % 10])
        snaps.append(snapshot(f"r{i}", f"2024-{1 + i // 4:02d}-{1 + 7 * (i % 4):02d}", base, lib, app))
    return snaps


def test_volatile_on_top_stable_at_the_bottom():
    h = plan(compute_statistics(_history()), 3)
    assert [layer.keys for layer in h.layers] == [("base",), ("lib",), ("app",)]
    rates = [layer.change_rate for layer in h.layers]
    assert rates == sorted(rates)
    assert h.layers[2].observed_rate == 1.0


def test_budget_one_puts_everything_in_one_layer():
    h = plan(compute_statistics(_history()), 1)
    assert [layer.keys for layer in h.layers] == [("app", "base", "lib")]


def test_tight_budget_joins_the_cheap_pair():
    # with two layers, app (1 kB) rides along with lib rather than lib with the 1 MB base
    h = plan(compute_statistics(_history()), 2)
    assert [layer.keys for layer in h.layers] == [("base",), ("app", "lib")]


def test_an_environment_is_planned_apart_from_the_interpreter_it_wraps():
    # python3.withPackages: python3-3.12.4-env links the interpreter and the packages, so it changes with
    # every package update; the 40 MB interpreter, which never changes, must not go along with it
    snaps = []
    for i in range(30):
        py = sp("python3-3.12.4", 40_000_000)
        req = sp(f"python3.12-requests-2.{i // 3}", 200_000, (py.path,), h="abcdefghij"[(i // 3) % 10])
        env = sp("python3-3.12.4-env", 20_000, (py.path, req.path), h=req.path[11])
        app = sp(f"app-{i}", 5_000, (env.path,), h="0123456789"[i % 10])
        snaps.append(snapshot(f"r{i}", f"2024-{1 + i // 4:02d}-{1 + 7 * (i % 4):02d}", py, req, env, app))
    h = plan(compute_statistics(snaps), 2)
    assert [layer.keys for layer in h.layers] == [("python3",), ("app", "python3-env", "python3.12-requests")]


def test_forecast_is_the_models_expected_bytes():
    st = compute_statistics(_history())
    q_app, q_base, q_lib = own_rates(st, ["app", "base", "lib"])
    assert q_base < q_lib < q_app  # 0, 5 and 24 own updates in 29 releases
    p_base, p_lib = q_base, 1 - (1 - q_base) * (1 - q_lib)
    p_app = 1 - (1 - q_base) * (1 - q_lib) * (1 - q_app)
    lower = 1_000_000 * p_base + 100_000 * p_lib + 1_000 * p_app
    # one key per layer, stacked in dependency order: pull = unpack = the lower bound
    alone = forecast(st, plan(st, 3))
    assert alone.pull == pytest.approx(lower, rel=0.02)
    assert alone.unpack == pytest.approx(lower, rel=0.02)
    assert alone.lower_bound == pytest.approx(lower, rel=0.02)
    # one layer: all 1.101 MB whenever anything changes
    one = forecast(st, plan(st, 1))
    assert one.pull == pytest.approx(1_101_000 * p_app, rel=0.02)
    assert one.unpack == pytest.approx(one.pull)
    assert one.lower_bound == alone.lower_bound
    # any layering of a closure can be forecast the same way, e.g. a baseline's
    snaps = _history()
    latest = [sorted(snaps[-1].closure().paths)]
    assert forecast_layout(st, latest) == one
    by_key = [[p for p in latest[0] if name in p] for name in ("-base-", "-lib-", "-app-")]
    assert forecast_layout(st, by_key) == alone
    # no hedging: base never changed, so the model puts no risk on it
    unhedged = forecast(st, plan(st, 3), prior_strength=1e-9)
    assert unhedged.lower_bound < alone.lower_bound


def _weekly_and_daily():  # type: ignore[no-untyped-def]
    """_history() one snapshot a week, and the same with six commits a day after each that change nothing."""
    weekly = [Snapshot(s.rev, (date(2024, 1, 7) + timedelta(weeks=i)).isoformat(), s.closures) for i, s in enumerate(_history())]
    daily = [
        Snapshot(f"{s.rev}.{d}", (date(2024, 1, 7) + timedelta(days=7 * i + d)).isoformat(), s.closures)
        for i, s in enumerate(weekly)
        for d in range(7 if i < len(weekly) - 1 else 1)
    ]
    return weekly, daily


def test_commits_that_leave_the_image_alone_change_no_plan():
    # weighed per snapshot, the 145 idle commits would make "base" (never updated) look five times
    # safer than the same 29 weeks sampled weekly
    weekly, daily = (compute_statistics(h) for h in _weekly_and_daily())
    keys = ["app", "base", "lib"]
    assert own_rates(daily, keys) == own_rates(weekly, keys)
    by_week, by_day = plan(weekly, 2), plan(daily, 2)
    assert [layer.keys for layer in by_day.layers] == [layer.keys for layer in by_week.layers]
    # rates stay per release: a layer that changes every week changes every seventh day
    for d, w in zip(by_day.layers, by_week.layers):
        assert d.change_rate * 7 == pytest.approx(w.change_rate, rel=0.05)
    assert forecast(daily, by_day).pull * 7 == pytest.approx(forecast(weekly, by_week).pull, rel=0.05)


def test_a_quiet_window_hedges_no_harder_than_a_busy_one():
    # the image changes in 10 of 29 weeks: the prior weighs 20 weeks of such releases (about 7),
    # not 20 releases, against the key's 10
    snaps = []
    for i in range(30):
        base = sp("base-1.0", 1_000_000)
        app = sp(f"app-{i // 3}", 1_000, (base.path,), h="0123456789"[(i // 3) % 10])
        snaps.append(snapshot(f"r{i}", (date(2024, 1, 7) + timedelta(weeks=i)).isoformat(), base, app))
    st = compute_statistics(snaps)
    assert (st.changed_releases, st.weeks, st.keys["base"].exposure) == (9, 29.0, 9)
    weight = 20 * 9 / 29
    pooled = (9 + 1) / (18 + 2)
    assert own_rates(st, ["app", "base"])[1] == pytest.approx(weight * pooled / (9 + weight))


@pytest.mark.parametrize("n", [1, 4])
def test_a_window_in_which_the_image_never_changed_still_plans(n):
    # --since 2w on a repository whose last commits touched only docs: no evidence, no failure
    base, lib = sp("base-1", 1_000_000), sp("lib-1", 1_000)
    app = sp("app-1", 10, (lib.path,))
    snaps = [snapshot(f"r{i}", f"2024-01-{1 + 7 * i:02d}", base, lib, app) for i in range(n)]
    st = compute_statistics(snaps)
    assert st.changed_releases == 0
    assert len(set(own_rates(st, sorted(st.present)))) == 1  # every key alike: the base rate
    hints = plan(st, 2)
    assert sorted(k for layer in hints.layers for k in layer.keys) == ["app", "base", "lib"]
    assert len(hints.layers) == 2
    if n > 1:  # releases like these cost nothing (a single snapshot says nothing of releases at all)
        assert all(layer.change_rate == 0 for layer in hints.layers) and forecast(st, hints).pull == 0


def test_without_evidence_big_keys_keep_layers_of_their_own():
    # a window in which nothing changed (a young repository, --since 4w on a stable base): every key gets
    # the base rate of one own update per release among all keys, small enough that a layer's risk grows
    # with what is in its closure. A base rate of one half made every deep layer near-certain to change,
    # so merges looked free and two big keys went into one catch-all with thirty others
    libs = [sp("glibc-2.39", 1_000)]
    for i in range(1, 30):
        libs.append(sp(f"lib{i}-1.0", 1_000, (libs[-1].path,)))
    llvm = sp("llvm-17.0", 50_000_000, (libs[-1].path,))
    icu = sp("icu-74.1", 40_000_000, (libs[-1].path,))
    app = sp("app-1", 1_000, (llvm.path, icu.path))
    snaps = [snapshot(f"r{i}", f"2024-01-{1 + 7 * i:02d}", *libs, llvm, icu, app) for i in range(4)]
    st = compute_statistics(snaps)
    assert set(own_rates(st, sorted(st.present))) == {1 / 33}
    layers = [layer.keys for layer in plan(st, 3).layers]
    assert layers[1:] == [("icu",), ("app",)]
    assert "llvm" in layers[0] and len(layers[0]) == 31


def test_an_image_of_one_key_updated_at_every_release_plans():
    # the base rate counts one pseudo-release among all keys: with one key, always updated, it is 1
    snaps = [snapshot(f"r{i}", f"2024-01-{1 + 7 * i:02d}", sp(f"app-1.{i}", 1_000, h=str(i))) for i in range(4)]
    st = compute_statistics(snaps)
    assert own_rates(st, ["app"]) == [1.0]
    hints = plan(st, 4)
    assert [layer.keys for layer in hints.layers] == [("app",)]
    assert hints.layers[0].change_rate == pytest.approx(1.0)
    assert forecast(st, hints).pull == pytest.approx(1_000)


def test_the_budget_is_per_image():
    # six layers each: with one budget for the file, the two images' own keys would share it and each
    # image would get fewer than six; a layer of one image's keys takes nothing of the other's budget
    snaps = two_images()
    hints = plan(compute_statistics(snaps), 6)
    assert len(hints.layers) > 6 and hints.max_layers == 6
    for image, closure in snaps[-1].closures.items():
        layers = layout(closure, hints)
        assert len(layers) == 6, image
        assert layers == layout(closure, hints, max_layers=len(hints.layers))  # nothing merged to fit
        assert sorted(p for layer in layers for p in layer.paths) == sorted(closure.paths)
    # one image holding everything: the budget is the file's
    merged = [Snapshot(s.rev, s.date, {"image": s.closure()}) for s in snaps]
    assert len(plan(compute_statistics(merged), 6).layers) == 6


def test_images_merged_into_one_keep_the_layers_the_old_file_gives_it_within_the_budget():
    # a file of two images holds more layers than the budget; when one image now holds all their keys,
    # what stays is the file as `gitmine layout` lays that image out, and the new file is within budget
    from gitmine.hints import parse, problems, render

    snaps = two_images()
    two = plan(compute_statistics(snaps), 6)
    assert len(two.layers) > 6
    merged = [Snapshot(s.rev, s.date, {"image": s.closure()}) for s in snaps]
    again = plan(compute_statistics(merged), 6, previous=parse(render(two)))
    assert problems(render(again)) == []
    closure = merged[-1].closure()
    assert [layer.paths for layer in layout(closure, again)] == [layer.paths for layer in layout(closure, two)]


def _regrouped(snaps: list[Snapshot], groups: list[list[str]]) -> list[Snapshot]:
    """The same keys in other images: each group of images' closures merged into one image."""
    out = []
    for s in snaps:
        images = {}
        for g in groups:
            paths = {p.path: p for image in g for p in s.closures[image].paths.values()}
            images["+".join(g)] = build_closure(paths.values())
        out.append(Snapshot(s.rev, s.date, images))
    return out


@pytest.mark.parametrize("before", [[["web"], ["worker"]], [["web", "worker"]], [["web"]]])
@pytest.mark.parametrize("after", [[["web"], ["worker"]], [["web", "worker"]], [["web"]], [["worker"]]])
@pytest.mark.parametrize("budget", [3, 6])
def test_a_file_replanned_after_the_images_changed_keeps_each_image_within_the_budget(before, after, budget):
    # images merged, split, dropped or added between two analyses: the new file is one gitmine reads,
    # and lays each image out without merging anything to fit
    from gitmine.hints import parse, problems, render

    snaps = two_images()
    previous = parse(render(plan(compute_statistics(_regrouped(snaps, before)), 6)))
    now = _regrouped(snaps, after)
    hints = plan(compute_statistics(now), budget, previous=previous)
    assert problems(render(hints)) == []
    for closure in now[-1].closures.values():
        assert len(layout(closure, hints, max_layers=10**6)) <= budget


def test_forecast_for_a_host_running_several_images():
    from gitmine.planner import forecast_images

    snaps = two_images()
    st = compute_statistics(snaps)
    latest = snaps[-1]
    sizes = {p: sp.size for c in latest.closures.values() for p, sp in c.paths.items()}
    web = layout(latest.closures["web"], plan(st, 6))
    web_layers = [list(layer.paths) for layer in web]
    # one image: the model's forecast of that layering; the same image twice: nothing more to pull
    st_web = compute_statistics([Snapshot(s.rev, s.date, {"web": s.closures["web"]}) for s in snaps])
    def same(a, b) -> bool:  # type: ignore[no-untyped-def]  # sums in another order (Python 3.12+ sums floats exactly)
        return (a.pull, a.unpack, a.lower_bound) == pytest.approx((b.pull, b.unpack, b.lower_bound), rel=1e-12)

    assert same(forecast_images(st_web, {"web": web_layers}, sizes), forecast_layout(st_web, web_layers))
    assert same(forecast_images(st, {"web": web_layers, "copy": web_layers}, sizes), forecast_images(st, {"web": web_layers}, sizes))
    # the base in one layer per image with each image's own keys: its bytes are a blob per image and count
    # twice, where in one layer of its own both images share them
    base = [p for p in latest.closures["web"].paths if p in latest.closures["worker"].paths]
    own = {i: [p for p in c.paths if p not in base] for i, c in latest.closures.items()}
    mixed = forecast_images(st, {i: [base + own[i]] for i in own}, sizes)
    apart = forecast_images(st, {i: [base, own[i]] for i in own}, sizes)
    assert mixed.pull > apart.pull and mixed.lower_bound == apart.lower_bound


def test_a_layer_is_split_by_images_where_they_have_layers_to_spare():
    # a base key of both images shares a layer with a volatile key of the first: split, the first image
    # gets the third layer its budget allows and the second keeps its two; with no layer to spare, not
    from gitmine.planner import _image_counts, _RiskModel, _group, _split_by_images

    masks, sizes, images = [1, 2, 4, 8], [100, 10, 10, 10], [0b11, 0b01, 0b01, 0b10]  # base, web1, web2, worker
    model = _RiskModel([0.01, 0.5, 0.5, 0.5])

    def layers() -> list:  # type: ignore[type-arg]
        return [_group(m, masks, sum(sizes[i] for i in m), model, images) for m in ([0, 1], [2], [3])]

    split = _split_by_images(layers(), masks, sizes, model, images, budget=3)
    assert sorted(g.members for g in split) == [[0], [1], [2], [3]]  # in any order: the stacking comes next
    assert _image_counts(split) == [3, 2]
    assert [g.members for g in _split_by_images(layers(), masks, sizes, model, images, budget=2)] == [[0, 1], [2], [3]]


def _with_previous(prev_layers, budget=3):  # type: ignore[no-untyped-def]
    st = compute_statistics(_history_with_tiny())
    fresh = plan(st, budget)
    previous = Hints(fresh.analysis, tuple(HintLayer(keys, 0, 0.5, 0.5) for keys in prev_layers))
    return fresh, plan(st, budget, previous=previous)


def _history_with_tiny():  # type: ignore[no-untyped-def]
    """_history() plus "tiny": 10 bytes that never change and depend on nothing."""
    return [Snapshot(s.rev, s.date, {"image": build_closure([*s.closure(), sp("tiny-1", 10)])}) for s in _history()]


def test_replanning_keeps_the_layers_in_use_when_a_switch_does_not_pay():
    # a 10 MB base that never changes, twenty small stable libraries, a 10-byte "tiny", an app
    # updated every release
    base = sp("base-1", 10_000_000)
    libs = [sp(f"stable{i}-1", 1_000, (base.path,)) for i in range(20)]
    tiny = sp("tiny-1", 10)
    snaps = [
        snapshot(f"r{i}", f"2024-{1 + i // 4:02d}-{1 + 7 * (i % 4):02d}", base, tiny, *libs,
                 sp(f"app-{i}", 1_000, (libs[0].path,), h="0123456789"[i % 10]))
        for i in range(30)
    ]  # fmt: skip
    st = compute_statistics(snaps)
    fresh = plan(st, 3)
    assert "tiny" not in fresh.layers[0].keys
    in_use = [("base", "tiny"), tuple(sorted(f"stable{i}" for i in range(20))), ("app",)]
    previous = Hints(fresh.analysis, tuple(HintLayer(keys, 0, 0.5, 0.5) for keys in in_use))
    # tiny's hedged risk makes the base layer a little likelier to change, but taking it out would
    # re-ship and re-unpack 10 MB once: far more than it saves over the 29 releases analysed
    assert [layer.keys for layer in plan(st, 3, previous=previous).layers] == in_use


def test_replanning_switches_when_the_new_plan_pays_for_the_re_pull():
    # everything in one layer re-ships 1.1 MB every release: three layers pay back at once
    fresh, switched = _with_previous([("app", "base", "lib", "tiny")])
    assert switched.layers == fresh.layers


def test_replanning_places_keys_the_hints_in_use_never_saw():
    # "tiny" is new to the hints in use: it stays where layout put it (the reserved top layer) unless
    # moving it pays; the rest stays as it was
    _, kept = _with_previous([("base",), ("lib",), ("app",)], budget=4)
    assert [layer.keys for layer in kept.layers] == [("base",), ("lib",), ("app",), ("tiny",)]


def test_replanning_and_forecasts_place_a_new_dependency_with_the_keys_using_it():
    # lib depends on "zlib", which the hints in use never saw: layout puts it in lib's layer, and
    # both the re-plan's starting point and the forecast of those hints see it there
    snaps = []
    for i in range(30):
        base = sp("base-1.0", 1_000_000)
        zlib = sp("zlib-1.3", 10, (base.path,))
        lib = sp(f"lib-1.{i // 5}", 100_000, (base.path, zlib.path), h="abcdefgh"[(i // 5) % 8])
        app = sp(f"app-{i}", 1_000, (lib.path,), h="0123456789"[i % 10])
        snaps.append(snapshot(f"r{i}", f"2024-{1 + i // 4:02d}-{1 + 7 * (i % 4):02d}", base, zlib, lib, app))
    st = compute_statistics(snaps)
    rates = {"base": 0.0, "lib": 0.2, "app": 1.0}
    in_use = Hints(plan(st, 3).analysis, tuple(HintLayer((k,), 0, r, r) for k, r in rates.items()))
    laid_out = [list(layer.paths) for layer in layout(snaps[-1].closure(), in_use)]
    names = [sorted(p.split("-", 1)[1].split("-")[0] for p in layer) for layer in laid_out]
    assert names == [["base"], ["lib", "zlib"], ["app"]]
    assert forecast(st, in_use) == forecast_layout(st, laid_out)
    assert [layer.keys for layer in plan(st, 4, previous=in_use).layers] == [("base",), ("lib", "zlib"), ("app",)]


@pytest.mark.parametrize("path", SMALL_HISTORIES, ids=lambda p: p.name)
def test_replanning_the_same_history_changes_nothing(path):
    snaps = load_history(path)
    for start in (0, 30, 60):
        st = compute_statistics(snaps[start : start + 26])
        for budget in (4, 8, 16):
            h = plan(st, budget)
            assert plan(st, budget, previous=h).layers == h.layers


@pytest.mark.parametrize("path", SMALL_HISTORIES, ids=lambda p: p.name)
@pytest.mark.parametrize("budget", [1, 4, 8, 16])
def test_plan_invariants_on_recorded_histories(path, budget):
    snaps = load_history(path)
    st = compute_statistics(snaps[:26])
    h = plan(st, budget)
    assert 1 <= len(h.layers) <= budget
    keys = [k for layer in h.layers for k in layer.keys]
    assert sorted(keys) == sorted(st.present) and len(keys) == len(set(keys))
    assert plan(st, budget) == h  # deterministic


def test_gitmine_beats_autolayer_where_it_clearly_should():
    # A big stable runtime, a big stable data set, a dependency bundle updated every four weeks and
    # a small app updated weekly. With two layers, auto-layer gives the runtime (largest) its own
    # layer and leaves data, bundle and app together: every release re-ships the data. History
    # shows that the stable pair belongs together at the bottom.
    snaps = []
    for i in range(60):
        runtime = sp("runtime-1", 50_000_000)
        data = sp("data-1", 40_000_000)
        deps = sp(f"deps-1.{i // 4}", 20_000_000, (runtime.path,), h="abcdefghijklmnpq"[(i // 4) % 16])
        app = sp(f"app-{i}", 500_000, (deps.path, data.path), h="0123456789"[i % 10])
        date = f"{2024 + i // 52}-{1 + (i % 52) // 5:02d}-{1 + 3 * (i % 5):02d}"
        snaps.append(Snapshot(f"r{i}", date, {"image": build_closure([runtime, data, deps, app])}))
    results, _ = replay(snaps, max_layers=2, train_weeks=12, test_weeks=12, strategies=("autolayer", "gitmine"))
    auto, gm = results
    assert gm.pull < 0.5 * auto.pull
    assert gm.unpack < 0.5 * auto.unpack


def test_layout_from_plan_partitions_every_snapshot():
    snaps = load_history(SMALL_HISTORIES[-1])
    h = plan(compute_statistics(snaps[:26]), 8)
    for s in snaps:
        c = next(iter(s.closures.values()))
        layers = layout(c, h)
        flat = [p for layer in layers for p in layer.paths]
        assert sorted(flat) == sorted(c.paths) and len(flat) == len(set(flat))
        assert 1 <= len(layers) <= 8
        assert autolayer(c, 8)  # the baseline runs on the same graph


def test_a_volatile_key_sharing_a_layer_in_use_gets_one_of_its_own_by_merging_two_neighbours():
    # in use: base, two big stable libraries, and an application (updated at every release) sharing the
    # top layer with "mid" (updated at a third of them). Moving mid into a library's layer would make
    # that layer change as often; parting the two costs a layer, which the cheapest neighbouring merge
    # (the two libraries, both stable) gives
    from gitmine.planner import _group, _Host, _isolated, _RiskModel, _switch_cost

    mb = 1_000_000
    sizes = [50 * mb, 40 * mb, 40 * mb, 20 * mb, mb]  # base, lib1, lib2, mid, app
    masks = [1, 1 | 2, 1 | 4, 1 | 8, 1 | 16]
    model = _RiskModel([0.001, 0.001, 0.001, 0.33, 1.0])
    in_use = [_group(m, masks, sum(sizes[i] for i in m), model) for m in ([0], [1], [2], [3, 4])]
    isolated = _isolated(in_use, in_use, sizes, masks, model, horizon=29)
    assert isolated is not None
    assert [g.members for g in isolated] == [[0], [1, 2], [3], [4]]
    # and over the 29 releases it pays for its switch (80 MB pulled and 101 MB unpacked once)
    host = _Host(masks, sizes, model, None)
    assert 29 * host.cost(isolated) + _switch_cost([isolated], [in_use]) < 29 * host.cost(in_use)
    assert _isolated(in_use[:2], in_use[:2], sizes, masks, model, horizon=29) is None  # no two layers to merge


def test_replanning_parts_a_volatile_key_from_its_neighbour_when_no_layer_can_take_it():
    # in use: base, three 40 MB stable libraries, and the application (every release) sharing the top layer
    # with "mid" (20 MB, every third release), as a first plan may leave them. Moving mid into a library's
    # layer would make it change as often, and the fresh plan re-ships base: the re-plan gives the
    # application a layer of its own by merging two libraries, and keeps the rest
    mb = 1_000_000
    snaps = []
    for i in range(30):
        base = sp("base-1", 50 * mb)
        libs = [sp(f"lib{c}-1", 40 * mb, (base.path,)) for c in "abc"]
        mid = sp(f"mid-1.{i // 3}", 20 * mb, (base.path,), h="abcdefghij"[i // 3])
        app = sp(f"app-{i}", mb, (base.path,), h="0123456789"[i % 10])
        snaps.append(snapshot(f"r{i}", (date(2024, 1, 7) + timedelta(weeks=i)).isoformat(), base, *libs, mid, app))
    st = compute_statistics(snaps)
    in_use = [("base",), ("liba",), ("libb",), ("libc",), ("app", "mid")]
    previous = Hints(plan(st, 5).analysis, tuple(HintLayer(keys, 0, 0.5, 0.5) for keys in in_use))
    assert [layer.keys for layer in plan(st, 5).layers][0] == ("base", "liba")
    replanned = [layer.keys for layer in plan(st, 5, previous=previous).layers]
    assert replanned == [("base",), ("liba",), ("libb", "libc"), ("mid",), ("app",)]


def test_a_key_gets_a_layer_of_its_own_only_by_a_merge_that_keeps_each_image_within_the_budget():
    # web: base, wlib, and its application sharing a layer with mid (3 layers: its budget); worker: base
    # and klib. Merging the two small libraries would be cheapest, but leaves web with 4 layers: base and
    # wlib merge instead
    from gitmine.planner import _group, _image_counts, _isolated, _RiskModel

    mb = 1_000_000
    sizes = [100 * mb, 10 * mb, 10 * mb, 20 * mb, mb]  # base, wlib, klib, mid, app
    masks = [1, 1 | 2, 1 | 4, 1 | 8, 1 | 16]
    images = [0b11, 0b01, 0b10, 0b01, 0b01]
    model = _RiskModel([0.001, 0.001, 0.001, 0.33, 1.0])
    in_use = [_group(m, masks, sum(sizes[i] for i in m), model, images) for m in ([0], [1], [2], [3, 4])]
    free = _isolated(in_use, in_use, sizes, masks, model, 29, images)  # no budget to keep
    assert free is not None and [g.members for g in free] == [[0], [1, 2], [3], [4]]
    kept = _isolated(in_use, in_use, sizes, masks, model, 29, images, budget=3)
    assert kept is not None and [g.members for g in kept] == [[0, 1], [2], [3], [4]]
    assert _image_counts(kept) == [3, 2]


def test_switch_and_running_costs_are_what_a_host_running_every_image_pays():
    # base in both images, alib in web only, blib in worker only. In use: web [base+alib], worker
    # [base], [blib]; the candidate moves alib up beside blib. Web's layers become [base], [alib],
    # worker's stay as they are: the host pulls and unpacks alib once, nothing else, although as one
    # closure the bottom layer changed and both layers are new
    from gitmine.planner import _group, _Group, _Host, _host_costs, _RiskModel, _switch_cost

    mb = 1_000_000
    sizes = [100 * mb, 10 * mb, 20 * mb]  # base, alib, blib
    masks = [1, 1 | 2, 1 | 4]
    images = [0b11, 0b01, 0b10]
    model = _RiskModel([0.01, 0.2, 0.5])

    def layers(*members: list[int]) -> list[list[_Group]]:
        order = [_group(m, masks, sum(sizes[i] for i in m), model, images) for m in members]
        return _Host(masks, sizes, model, images).images(order)

    def running(image_layers: list[list[_Group]]) -> float:  # expected bytes pulled + unpacked per release
        return sum(_host_costs(image_layers, model.risk))

    in_use, moved = layers([0, 1], [2]), layers([0], [1, 2])
    assert [[g.members for g in image] for image in moved] == [[[0], [1]], [[0], [2]]]
    assert _switch_cost(moved, in_use) == 2 * 10 * mb  # alib's blob pulled, web's chain above base unpacked
    assert _switch_cost(in_use, in_use) == 0
    # running cost: base's blob (shared) pulled and unpacked once, each library's blob on its own risk
    risk = model.risk
    pull = 100 * mb * risk(1) + 10 * mb * risk(1 | 2) + 20 * mb * risk(1 | 4)
    unpack = 100 * mb * risk(1) + 10 * mb * risk(1 | 2) + 20 * mb * risk(1 | 4)
    assert running(moved) == pytest.approx(pull + unpack)
    # as one image the top layer would be one blob changing with either library
    one = [_group(m, masks, sum(sizes[i] for i in m), model) for m in ([0], [1, 2])]
    assert running([one]) > running(moved)


def test_replanning_with_several_images_weighs_the_switch_as_the_host_pays_it():
    # web: base (100 MB) and alib (10 MB, updated every third release); worker: base and blib. The file in
    # use puts alib beside base, so each alib update re-ships web's 110 MB blob. Parting them re-ships only
    # alib to web (worker already holds a blob of base alone); counted as one closure, the switch would
    # re-ship and unpack all 130 MB, more than eight releases save
    mb = 1_000_000
    snaps = []
    for i in range(8):
        base = sp("base-1", 100 * mb)
        alib = sp(f"alib-1.{i // 3}", 10 * mb, (base.path,), h="abc"[i // 3])
        blib = sp("blib-1", 20 * mb, (base.path,))
        when = (date(2024, 1, 7) + timedelta(weeks=i)).isoformat()
        snaps.append(Snapshot(f"r{i}", when, {"web": build_closure([base, alib]), "worker": build_closure([base, blib])}))
    st = compute_statistics(snaps)
    in_use = Hints(plan(st, 2).analysis, (HintLayer(("alib", "base"), 0, 0.5, 0.5), HintLayer(("blib",), 0, 0.5, 0.5)))
    assert [layer.keys for layer in plan(st, 2, previous=in_use).layers] == [("base",), ("blib",), ("alib",)]


def _web_and_worker() -> list[Snapshot]:
    """web: base0 (100 MB, updated every 8th release), base1 (5 MB, never), web1 (100 MB, every third) and
    two small keys; worker: the bases and wrk0 (100 MB, every release)."""
    mb = 1_000_000
    snaps = []
    for i in range(20):
        base0, base1 = sp(f"base0-1.{i // 8}", 100 * mb), sp("base1-1", 5 * mb)
        web = [sp(f"web0-1.{i // 4}", mb, (base0.path,)), sp(f"web1-1.{i // 3}", 100 * mb, (base1.path,)), sp(f"web2-1.{i // 5}", mb, (base0.path,))]
        wrk = sp(f"wrk0-1.{i}", 100 * mb, (base1.path,))
        when = (date(2024, 1, 7) + timedelta(weeks=i)).isoformat()
        snaps.append(Snapshot(f"r{i}", when, {"web": build_closure([base0, base1, *web]), "worker": build_closure([base0, base1, wrk])}))
    return snaps


def test_key_moves_of_a_plan_for_several_images_are_kept_only_if_the_host_pays_less():
    # (the history of _web_and_worker) weighed as one closure, key moves put web1 beside base0, away from wrk0's every-release layer; but each image's keys of a layer are a blob of
    # their own, and web's bottom blob (205 MB) would then change with web1: the host pulls more
    from gitmine.planner import forecast_images
    from gitmine.replay import hinted

    snaps = _web_and_worker()
    st = compute_statistics(snaps)
    h = plan(st, 2)
    assert [layer.keys for layer in h.layers] == [("base0",), ("base1", "web0", "web1", "web2", "wrk0")]
    moved = Hints(h.analysis, (HintLayer(("base0", "base1", "web1"), 0, 0.5, 0.5), HintLayer(("web0", "web2", "wrk0"), 0, 0.5, 0.5)))
    latest = snaps[-1].closures
    sizes = {p: e.size for c in latest.values() for p, e in c.paths.items()}

    def host(hints: Hints) -> float:
        lay = hinted(hints, 2)
        return forecast_images(st, {image: lay(c) for image, c in latest.items()}, sizes).pull

    assert host(h) < 0.85 * host(moved)


def test_layers_are_stacked_for_the_host_that_unpacks_each_images_own_chain():
    # M holds x (web's, 1 MB, updated at every release) and y (worker's, 100 MB, never); S holds z (both
    # images', 10 MB, a fifth of releases). As one closure M above S is the better stack (x's updates would
    # unpack S, but M is the bigger layer). The host unpacks web's blob of M (x alone) and worker's (y
    # alone) separately: with S below, each z update unpacks worker's 100 MB; with M below, x's updates
    # unpack only S for web, and worker's stable y never
    import math

    from gitmine.planner import _group, _Group, _Host, _host_costs, _RiskModel, _stack_for_host, order_layers

    mb = 1_000_000
    sizes = [mb, 100 * mb, 10 * mb]  # x, y, z
    masks = [1, 2, 4]
    images = [0b01, 0b10, 0b11]
    model = _RiskModel([30.0, 0.0, -math.log(0.8)])
    m = _group([0, 1], masks, 101 * mb, model, images)
    s = _group([2], masks, 10 * mb, model, images)
    assert [g.members for g in order_layers([m, s], model)] == [[2], [0, 1]]
    stacked = _stack_for_host([s, m], _Host(masks, sizes, model, images))
    assert [g.members for g in stacked] == [[0, 1], [2]]

    def unpack(order: list[_Group]) -> float:
        return _host_costs(_Host(masks, sizes, model, images).images(order), model.risk)[1]

    assert unpack(stacked) == pytest.approx(mb * 1.0 + 10 * mb * 1.0 + 10 * mb * 0.2)  # x, S over x for web, S for worker
    assert unpack([s, m]) == pytest.approx(10 * mb * 0.2 + mb * 1.0 + 100 * mb * 0.2)  # S once, then each image's blob of M


def test_with_the_hosts_costs_key_moves_that_would_cost_the_host_more_are_not_made():
    # the history of _web_and_worker: weighed as one closure, moving base1 and web1 down beside base0 pays;
    # for the host it puts web1's updates under web's 205 MB blob, and refine given the host's costs keeps
    # the stack as it is
    from gitmine.planner import PRIOR_STRENGTH, _group, _Group, _Host, _key_images, _model, refine

    snaps = _web_and_worker()
    st = compute_statistics(snaps)
    keys = sorted(st.present)
    assert keys == ["base0", "base1", "web0", "web1", "web2", "wrk0"]
    model, masks = _model(st, keys, PRIOR_STRENGTH)
    sizes = [st.keys[k].size for k in keys]
    images = _key_images(st, keys)
    host = _Host(masks, sizes, model, images)

    def stack() -> list[_Group]:
        return [_group([0], masks, sizes[0], model, images), _group([1, 2, 3, 4, 5], masks, sum(sizes[1:]), model, images)]

    closure_moves = refine(stack(), masks, sizes, model, key_images=images, budget=2)
    assert [g.members for g in closure_moves] == [[0, 1, 3], [2, 4, 5]]
    assert host.cost(closure_moves) > 1.2 * host.cost(stack())
    assert [g.members for g in refine(stack(), masks, sizes, model, key_images=images, budget=2, host=host)] == [[0], [1, 2, 3, 4, 5]]
