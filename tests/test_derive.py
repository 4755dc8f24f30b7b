"""Closures derived from derivations (``--derive``), on hand-written ``.drv`` files."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitmine.derive import Derivations, NotDerivable, derive, parse_drv
from tests.conftest import closure, sp, store


class Store:
    """Writes ``.drv`` files (ATerm, as Nix does) into a directory; outputs go to ``/nix/store``."""

    def __init__(self, root: Path):
        self.root = root
        self.n = 0

    def drv(self, name: str, inputs: tuple[str, ...] = (), outputs: tuple[str, ...] = ("out",), h: str = "",
            sources: tuple[str, ...] = (), ca: bool = False) -> str:  # fmt: skip
        self.n += 1
        h = h or f"{self.n:x}"
        outs = ",".join(
            f'("{o}","{"" if ca else store(name if o == "out" else f"{name}-{o}", h)}","{"r:sha256" if ca else ""}","")'
            for o in outputs
        )
        ins = ",".join(f'("{d}",["out"])' for d in inputs)
        srcs = ",".join(f'"{s}"' for s in sources)
        path = self.root / f"{(h * 32)[:32]}-{name}.drv"
        env = '[("builder","/bin/sh"),("script","printf \\"%s\\\\n\\" x > $out")]'
        path.write_text(f'Derive([{outs}],[{ins}],[{srcs}],"x86_64-linux","/bin/sh",["-c","true"],{env})')
        return str(path)


def out(name: str, h: str) -> str:
    return store(name, h)


def test_a_drv_file_gives_its_outputs_inputs_and_sources():
    text = (
        'Derive([("dev","/nix/store/a-x-1-dev","",""),("out","/nix/store/b-x-1","","")],'
        '[("/nix/store/c-y.drv",["out","lib"]),("/nix/store/d-z.drv",["out"])],["/nix/store/e-s\\"q"],'
        '"x86_64-linux","/bin/sh",["-c","echo \\"a]b\\""],[("name","x-1")])'
    )
    d = parse_drv(text)
    assert d.outputs == {"dev": "/nix/store/a-x-1-dev", "out": "/nix/store/b-x-1"}
    assert d.inputs == ("/nix/store/c-y.drv", "/nix/store/d-z.drv")
    assert d.sources == ('/nix/store/e-s"q',)
    with pytest.raises(ValueError):
        parse_drv("DrvWithVersion(...)")


def _commit(s: Store, lib_version: str, h: str, *, boot: bool = True) -> tuple[str, str]:
    """A commit's derivations: image -> app -> lib, app -> glibc; glibc built by a bootstrap glibc (the
    same key, deeper in the graph); a build-time tool that is in no closure. Returns (root output, root drv)."""
    glibc_boot = s.drv("glibc-0.9", h="b")
    glibc = s.drv("glibc-2.40", inputs=(glibc_boot,) if boot else (), h="g")
    tool = s.drv("cmake-3.1", inputs=(glibc,), h="t")
    lib = s.drv(f"lib-{lib_version}", inputs=(glibc, tool), h=f"l{h}")
    app = s.drv("app-1.0", inputs=(lib, glibc, tool), h=f"a{h}")
    image = s.drv("image-root", inputs=(app,), h=f"i{h}")
    return out("image-root", f"i{h}"), image


def _template(h: str = "1", lib_version: str = "1.0"):  # type: ignore[no-untyped-def]
    glibc = sp("glibc-2.40", 1000, h="g")
    lib = sp(f"lib-{lib_version}", 200, (glibc.path,), h=f"l{h}")
    app = sp("app-1.0", 50, (lib.path, glibc.path), h=f"a{h}")
    image = sp("image-root", 1, (app.path,), h=f"i{h}")
    return closure(glibc, lib, app, image), image.path


def test_a_commit_is_derived_from_a_template_and_its_own_derivations(tmp_path):
    s = Store(tmp_path)
    drvs = Derivations()
    template, troot = _template()
    root1, drv1 = _commit(s, "1.0", "1")
    assert set(derive(template, troot, root1, drv1, drvs).paths) == set(template.paths)  # its own commit: itself
    root2, drv2 = _commit(s, "1.1", "2")  # a lib update: lib, app and the image get new paths, glibc stays
    got = derive(template, troot, root2, drv2, drvs)
    assert set(got.paths) == {out("glibc-2.40", "g"), out("lib-1.1", "l2"), out("app-1.0", "a2"), out("image-root", "i2")}
    assert got.paths[out("app-1.0", "a2")].references == tuple(sorted((out("glibc-2.40", "g"), out("lib-1.1", "l2"))))
    assert got.paths[out("lib-1.1", "l2")].nar_size == 200  # sizes are the template's
    assert not any("cmake" in p or "0.9" in p for p in got.paths)  # build-only and deeper paths stay out


def test_a_dependency_the_commit_lacks_is_left_out(tmp_path):
    s = Store(tmp_path)
    glibc = s.drv("glibc-2.40", h="g")
    app = s.drv("app-1.0", inputs=(glibc,), h="a9")  # no lib at this commit
    image = s.drv("image-root", inputs=(app,), h="i9")
    template, troot = _template()
    got = derive(template, troot, out("image-root", "i9"), image, Derivations())
    assert set(got.paths) == {out("glibc-2.40", "g"), out("app-1.0", "a9"), out("image-root", "i9")}


@pytest.mark.parametrize(
    "case, message", [("a second glibc as near as the first", "equally near"), ("a content-addressed lib", "content-addressed")]
)
def test_a_lookup_the_derivations_cannot_decide_derives_nothing(tmp_path, case, message):
    s = Store(tmp_path)
    glibc = s.drv("glibc-2.40", h="g")
    second = (s.drv("glibc-2.41", h="k"),) if "glibc" in case else ()
    lib = s.drv("lib-1.0", inputs=(glibc,), h="l1", ca="content-addressed" in case)
    app = s.drv("app-1.0", inputs=(lib, glibc, *second), h="a1")
    image = s.drv("image-root", inputs=(app,), h="i1")
    template, troot = _template()
    with pytest.raises(NotDerivable, match=message):
        derive(template, troot, out("image-root", "i1"), image, Derivations())


def test_a_source_and_another_output_of_the_same_derivation_are_found(tmp_path):
    s = Store(tmp_path)
    conf = store("app.conf", "c")
    glibc = s.drv("glibc-2.40", h="g")
    app = s.drv("app-1.0", inputs=(glibc,), outputs=("out", "lib"), h="a1", sources=(conf,))
    image = s.drv("image-root", inputs=(app,), h="i1")
    t_conf = sp("app.conf", 5, h="c")
    t_glibc = sp("glibc-2.40", 1000, h="g")
    t_lib = sp("app-1.0-lib", 30, (t_glibc.path,), h="a1")
    t_app = sp("app-1.0", 50, (t_lib.path, t_conf.path), h="a1")
    t_image = sp("image-root", 1, (t_app.path,), h="i1")
    template = closure(t_conf, t_glibc, t_lib, t_app, t_image)
    got = derive(template, t_image.path, out("image-root", "i1"), image, Derivations())
    assert set(got.paths) == set(template.paths)


def test_an_unreadable_derivation_derives_nothing(tmp_path):
    template, troot = _template()
    with pytest.raises(NotDerivable, match="evaluate it again"):
        derive(template, troot, out("image-root", "i1"), str(tmp_path / "gone.drv"), Derivations())


def test_two_template_paths_of_one_key_at_different_depths_derive_nothing(tmp_path):
    # the app references two glibcs, one nearer than the other: both would be found as the nearer one
    s = Store(tmp_path)
    old = s.drv("glibc-2.39", h="o")
    glibc = s.drv("glibc-2.40", inputs=(old,), h="g")
    app = s.drv("app-1.0", inputs=(glibc,), h="a1")
    image = s.drv("image-root", inputs=(app,), h="i1")
    t_old = sp("glibc-2.39", 900, h="o")
    t_glibc = sp("glibc-2.40", 1000, h="g")
    t_app = sp("app-1.0", 50, (t_glibc.path, t_old.path), h="a1")
    t_image = sp("image-root", 1, (t_app.path,), h="i1")
    template = closure(t_old, t_glibc, t_app, t_image)
    with pytest.raises(NotDerivable, match="share a key"):
        derive(template, t_image.path, out("image-root", "i1"), image, Derivations())


def test_the_output_a_derivation_fixes_and_one_it_does_not(tmp_path):
    s = Store(tmp_path)
    fixed, floating = s.drv("app-1.0", outputs=("out", "lib"), h="a1"), s.drv("app-1.0", h="a2", ca=True)
    drvs = Derivations()
    assert drvs.output(f"{fixed}!lib") == out("app-1.0-lib", "a1") and drvs.output(fixed) == out("app-1.0", "a1")
    with pytest.raises(NotDerivable, match="known once built"):
        drvs.output(f"{floating}!out")
