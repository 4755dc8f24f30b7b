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


def test_appearance_and_disappearance_are_changes():
    a, b = sp("a-1", 1), sp("b-1", 1)
    st = compute_statistics([snapshot("0", "2024-01-01", a), snapshot("1", "2024-01-08", a, b), snapshot("2", "2024-01-15", a)])
    assert st.keys["b"].changes == 2
    assert st.keys["a"].changes == 0
    assert "b" not in st.present


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
