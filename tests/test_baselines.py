from gitmine.baselines import autolayer, n2c, n2c_order, nixpkgs_popularity, nixpkgs_popularity_order, popularity_contest, single
from gitmine.closure import StorePath, build_closure


def _graph(edges: dict[str, str], sizes: dict[str, int] | None = None):
    sizes = sizes or {}
    return build_closure(
        StorePath(f"/{n}", sizes.get(n, 1), tuple(sorted(f"/{r}" for r in refs))) for n, refs in edges.items()
    )


# The graph of nix2container's closure/layered_test.go and of closure-graph.py's docstring.
G = _graph({"A": "BG", "B": "CE", "C": "DE", "D": "F", "E": "F", "F": "", "G": ""})


def strip(paths):
    return [p.lstrip("/") for p in paths]


def test_n2c_popularity_matches_its_go_test():
    assert strip(n2c_order(G)) == ["F", "E", "D", "C", "G", "B", "A"]


def test_n2c_max_layers_singletons_then_rest():
    assert [strip(layer) for layer in n2c(G, 3)] == [["F"], ["E"], ["A", "B", "C", "D", "G"]]
    assert len(n2c(G, 100)) == 7


def test_closure_graph_popularity_matches_its_docstring():
    pop = {k.lstrip("/"): v for k, v in popularity_contest(G).items()}
    assert pop == {"A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 9, "G": 2}
    assert strip(nixpkgs_popularity_order(G)) == ["F", "E", "D", "C", "B", "G", "A"]
    assert [strip(layer) for layer in nixpkgs_popularity(G, 4)] == [["F"], ["E"], ["D"], ["A", "B", "C", "G"]]


def test_single():
    assert single(G, 10) == [sorted(G.paths)]


def test_autolayer_cohorts_on_a_small_graph():
    # app -> (lib1, lib2); lib1 -> base; lib2 -> base; big is lib1
    g = _graph({"app": "xy", "x": "b", "y": "b", "b": ""}, {"app": 5, "x": 100, "y": 50, "b": 10})
    # budget 2: primary x takes its private dependency b; then y would make {x}, {y},
    # {b: shared by x and y}, {app} = 4 layers, too many, so the split stops before y
    assert [strip(layer) for layer in autolayer(g, 2)] == [["b", "x"], ["app", "y"]]
    assert autolayer(g, 3) == autolayer(g, 2)
    # budget 4: x, y primaries; b shared by both -> its own cohort; ordered by closure size
    assert [strip(layer) for layer in autolayer(g, 4)] == [["b"], ["y"], ["x"], ["app"]]


def test_baselines_partition_the_closure():
    for fn in (single, n2c, nixpkgs_popularity, autolayer):
        for budget in (1, 2, 3, 7, 50):
            layers = fn(G, budget)
            flat = [p for layer in layers for p in layer]
            assert sorted(flat) == sorted(G.paths) and len(flat) == len(set(flat))
            assert len(layers) <= budget and all(layers)
