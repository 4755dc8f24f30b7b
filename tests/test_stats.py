from gitmine.closure import Snapshot, build_closure
from gitmine.cluster import clusters, cochange_graph
from gitmine.stats import compute_statistics
from tests.conftest import snapshot, sp, store


def _history():
    # libc stable; ssl updated at t=1 (own), which propagates to app; app changes every release;
    # two paths share the key "data" (two versions at once) and one of them changes at t=0.
    libc = sp("libc-2.39", 1000)
    ssl0, ssl1 = sp("ssl-3.0", 200, (libc.path,)), sp("ssl-3.1", 200, (libc.path,), h="1")
    d1, d2, d2b = sp("data-1", 5), sp("data-2", 5), sp("data-2", 6, h="2")
    app = lambda h, ssl: sp("app-1.0", 10, (ssl.path, d1.path), h=h)  # noqa: E731
    s0 = snapshot("r0", "2024-01-01", libc, ssl0, d1, d2, app("a", ssl0))
    s1 = snapshot("r1", "2024-01-08", libc, ssl0, d1, d2b, app("b", ssl0))
    s2 = snapshot("r2", "2024-01-15", libc, ssl1, d1, d2b, app("c", ssl1))
    s3 = snapshot("r3", "2024-01-22", libc, ssl1, d1, d2b, app("d", ssl1))
    return [s0, s1, s2, s3]


def test_change_counts_own_changes_and_sizes():
    st = compute_statistics(_history())
    assert st.transitions == 3
    k = st.keys
    assert (k["libc"].changes, k["libc"].own_changes) == (0, 0)
    assert (k["ssl"].changes, k["ssl"].own_changes, k["ssl"].vector) == (1, 1, 0b010)
    # app changes every time; at t=0 its dependency key "data" changed and at t=1 ssl did, so only
    # the change at t=2 is its own
    assert (k["app"].changes, k["app"].own_changes, k["app"].vector, k["app"].own_vector) == (3, 1, 0b111, 0b100)
    # two paths share "data": both are kept, the key changes when either does
    assert k["data"].changes == 1 and k["data"].size == 5 + 6
    assert k["ssl"].rate(st.transitions) == 1 / 3
    assert (k["ssl"].first_seen, k["ssl"].last_seen) == ("r0", "r3")
    assert st.deps["app"] == frozenset({"ssl", "data"})
    assert st.present == frozenset({"libc", "ssl", "data", "app"})
    assert st.changed_per_transition == (2, 2, 1)


def test_commits_sharing_closure_objects_count_as_if_each_had_its_own():
    # analyze gives every commit of one derivation the same closure object; statistics derive it once
    hist = _history()
    shared = [Snapshot(f"{s.rev}.{i}", s.date, s.closures) for s in hist for i in range(3)]
    copies = [
        Snapshot(f"{s.rev}.{i}", s.date, {name: build_closure(list(c)) for name, c in s.closures.items()})
        for s in hist
        for i in range(3)
    ]
    assert compute_statistics(shared) == compute_statistics(copies)
    assert compute_statistics(shared).changed_per_transition == (0, 0, 2, 0, 0, 2, 0, 0, 1, 0, 0)


def test_appearance_and_disappearance_are_changes():
    a, b = sp("a-1", 1), sp("b-1", 1)
    st = compute_statistics([snapshot("0", "2024-01-01", a), snapshot("1", "2024-01-08", a, b), snapshot("2", "2024-01-15", a)])
    assert st.keys["b"].changes == 2
    assert st.keys["a"].changes == 0
    assert "b" not in st.present
    # being added or removed is a change of the layer, not an update of the package
    assert st.keys["b"].own_changes == 0
    assert (st.keys["a"].exposure, st.keys["b"].exposure) == (2, 0)


def test_a_package_added_mid_window_is_judged_on_the_releases_it_was_there_for():
    a = sp("a-1", 1)
    snaps = [snapshot(f"r{i}", f"2024-01-{1 + i:02d}", a) for i in range(6)]
    late = [sp(f"late-1.{i}", 1, h="abc"[i]) for i in range(3)]  # added at r3, updated at r4 and r5
    for i, path in zip(range(3, 6), late):
        snaps[i] = snapshot(f"r{i}", f"2024-01-{1 + i:02d}", a, path)
    st = compute_statistics(snaps)
    assert (st.keys["late"].changes, st.keys["late"].own_changes, st.keys["late"].exposure) == (3, 2, 2)
    assert st.keys["late"].first_seen == "r3"


def test_the_window_in_weeks_and_the_releases_that_changed_the_image():
    a, b = sp("a-1", 1), sp("b-1", 1, h="1")

    def stats(*dates: str):  # type: ignore[no-untyped-def]
        return compute_statistics([snapshot(f"r{i}", d, a if i < 2 else b) for i, d in enumerate(dates)])

    assert stats("2024-01-01", "2024-01-08", "2024-01-15").weeks == 2.0
    assert stats("2024-01-01T00:00:00Z", "2024-01-01T12:00:00Z", "2024-01-04T12:00:00+00:00").weeks == 0.5
    # no usable span: one week per transition
    assert stats("2024-01-01", "2024-01-01", "2024-01-01").weeks == 2.0
    assert stats("", "", "").weeks == 2.0
    st = stats(*(f"2024-01-{1 + i:02d}" for i in range(5)))
    # only r1 -> r2 changed the image: the other transitions are no exposure for any key
    assert (st.transitions, st.changed_releases) == (4, 1)
    assert (st.keys["a"].exposure, st.keys["b"].exposure) == (0, 0)


def test_renamed_keys_are_followed_under_their_latest_name():
    # a Python bump at r2 renames the interpreter and its package set; the package updates at r1
    base = sp("base-1", 1000)

    def py(minor: str, h: str, req: str = "2.31", rh: str = "0"):  # type: ignore[no-untyped-def]
        interp = sp(f"python3.{minor}-3.{minor}.1", 50, (base.path,), h=h)
        return interp, sp(f"python3.{minor}-requests-{req}", 5, (interp.path,), h=rh)

    snaps = [
        snapshot("r0", "2024-01-01", base, *py("11", "1")),
        snapshot("r1", "2024-01-08", base, *py("11", "1", "2.32", "2")),
        snapshot("r2", "2024-01-15", base, *py("12", "3", "2.32", "4")),
        snapshot("r3", "2024-01-22", base, *py("12", "3", "2.32", "4")),
    ]
    st = compute_statistics(snaps)
    assert set(st.keys) == {"base", "python3.12", "python3.12-requests"}
    req, interp = st.keys["python3.12-requests"], st.keys["python3.12"]
    # exposed at r0 -> r1 and r1 -> r2 (as its old name); r2 -> r3 changed nothing
    assert (req.first_seen, req.exposure, req.vector, req.own_vector) == ("r0", 2, 0b011, 0b001)
    assert (interp.first_seen, interp.vector, interp.own_vector) == ("r0", 0b010, 0b010)
    assert st.deps["python3.12-requests"] == frozenset({"python3.12"})


def test_ambiguous_renames_are_not_followed():
    one, two = sp("libfoo1-1", 1), sp("libfoo2-1", 1)
    three = sp("libfoo3-1", 1)
    st = compute_statistics([snapshot("r0", "2024-01-01", one, two), snapshot("r1", "2024-01-08", three)])
    assert set(st.keys) == {"libfoo1", "libfoo2", "libfoo3"}
    assert st.keys["libfoo3"].first_seen == "r1"


def test_mass_rebuilds_are_left_out_of_cochange():
    hist = _history()
    st = compute_statistics(hist)
    # t=0: app + data (2 of 4 keys: not a mass rebuild), t=1: ssl + app, t=2: app only
    assert st.mass_rebuilds == ()
    g = cochange_graph(st)
    assert g["app"]["data"]["weight"] == 1.0 and g["app"]["ssl"]["weight"] == 1.0
    assert not g.has_edge("ssl", "data")
    # a transition that changes every key is a mass rebuild
    libc2 = sp("libc-2.40", 1000, h="9")
    every = snapshot("r4", "2024-01-29", libc2, sp("ssl-3.1", 200, (libc2.path,), h="8"), sp("data-1", 5, h="7"),
                     sp("data-2", 6, h="6"), sp("app-1.0", 10, (store("ssl-3.1", "8"), store("data-1", "7")), h="5"))
    st2 = compute_statistics(hist + [every])
    assert st2.mass_rebuilds == (3,)
    assert cochange_graph(st2)["app"]["data"]["weight"] == 1.0


def test_clusters_are_deterministic():
    st = compute_statistics(_history())
    assert clusters(st) == clusters(st)
    assert sorted(k for c in clusters(st) for k in c) == ["app", "data", "ssl"]


def test_wide_transitions_are_left_out_of_cochange():
    from gitmine.cluster import WIDE

    # 3 * WIDE independent keys; transition 0 updates WIDE + 1 of them at once, transition 1 updates two
    n = 3 * WIDE
    v0 = [sp(f"k{i}-1", 1) for i in range(n)]
    v1 = [sp(f"k{i}-2", 1, h="1") if i <= WIDE else v0[i] for i in range(n)]
    v2 = [sp(f"k{i}-3", 1, h="2") if i in (0, 1) else v1[i] for i in range(n)]
    st = compute_statistics([snapshot("r0", "2024-01-01", *v0), snapshot("r1", "2024-01-08", *v1), snapshot("r2", "2024-01-15", *v2)])
    assert st.mass_rebuilds == ()  # WIDE + 1 of 3 * WIDE keys: not a mass rebuild
    g = cochange_graph(st)
    assert g.number_of_edges() == 1 and g["k0"]["k1"]["weight"] == 1.0
