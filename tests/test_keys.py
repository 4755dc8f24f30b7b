import pytest

from gitmine.keys import parse_drv_name, path_key, store_name


@pytest.mark.parametrize(
    "name, expected",
    [
        ("python3-3.12.4", ("python3", "3.12.4")),
        ("hello-2.12.1", ("hello", "2.12.1")),
        ("nix-2.8.0", ("nix", "2.8.0")),
        ("gcc-wrapper-13.2.0", ("gcc-wrapper", "13.2.0")),
        ("libssl3-3.0.15-1~deb12u1", ("libssl3", "3.0.15-1~deb12u1")),
        ("source", ("source", "")),
        ("foo-bar", ("foo-bar", "")),
        ("gcc-16-base-14.2.0-8", ("gcc", "16-base-14.2.0-8")),
        ("x-", ("x-", "")),
    ],
)
def test_parse_drv_name_matches_nix(name, expected):
    assert parse_drv_name(name) == expected


@pytest.mark.parametrize(
    "path, key",
    [
        ("/nix/store/00000000000000000000000000000000-python3-3.12.4", "python3"),
        ("/nix/store/00000000000000000000000000000000-openssl-3.0.13-dev", "openssl-dev"),
        ("/nix/store/00000000000000000000000000000000-openssl-3.0.13-lib", "openssl-lib"),
        ("/nix/store/00000000000000000000000000000000-openssl-3.0.13", "openssl"),
        ("/nix/store/00000000000000000000000000000000-image-root", "image-root"),
        ("/nix/store/00000000000000000000000000000000-glibc-2.39-52-bin", "glibc-bin"),
        ("/nix/store/00000000000000000000000000000000-a+b_c.d?e=f-1.0", "a+b_c.d?e=f"),
        # other words after the version stay too: an environment is not the interpreter it wraps
        ("/nix/store/00000000000000000000000000000000-python3-3.12.4-env", "python3-env"),
        ("/nix/store/00000000000000000000000000000000-ghc-9.6.5-with-packages", "ghc-with-packages"),
        ("/nix/store/00000000000000000000000000000000-bind-9.18.27-host", "bind-host"),
        ("/nix/store/00000000000000000000000000000000-xgcc-13.2.0-libgcc", "xgcc-libgcc"),
        ("/nix/store/00000000000000000000000000000000-foo-1.0-lib32", "foo-lib32"),
        # ... but not pre-release tags or version parts that start with a letter
        ("/nix/store/00000000000000000000000000000000-foo-1.0-rc1", "foo"),
        ("/nix/store/00000000000000000000000000000000-foo-1.0-beta", "foo"),
        ("/nix/store/00000000000000000000000000000000-foo-0-unstable-2024-05-01", "foo"),
        ("/nix/store/00000000000000000000000000000000-libssl3-3.0.15-1~deb12u1", "libssl3"),
        # a number followed by words before the version is part of the name (Debian's openjdk-17-jre-headless):
        # parseDrvName's name alone would make one key of a package's several binaries
        ("/nix/store/00000000000000000000000000000000-gcc-12-base-12.2.0-14+deb12u1", "gcc-12-base"),
        ("/nix/store/00000000000000000000000000000000-openjdk-17-jre-headless-17.0.13+11-1~deb12u1", "openjdk-17-jre-headless"),
        ("/nix/store/00000000000000000000000000000000-openjdk-17-jre-17.0.13+11-1~deb12u1", "openjdk-17-jre"),
        ("/nix/store/00000000000000000000000000000000-llvm-14-dev-1:14.0.6-12", "llvm-14-dev"),
        ("/nix/store/00000000000000000000000000000000-a-2-b-3-c-4.0-dev", "a-2-b-3-c-dev"),
        # ... but not a number with no words after it, a version that goes on, or a pre-release tag
        ("/nix/store/00000000000000000000000000000000-postgresql-15-15.19-0+deb12u1", "postgresql"),
        ("/nix/store/00000000000000000000000000000000-libnghttp2-14-1.52.0-1", "libnghttp2"),
        ("/nix/store/00000000000000000000000000000000-ghc-9-with-packages", "ghc-with-packages"),
        ("/nix/store/00000000000000000000000000000000-texlive-2023-env", "texlive-env"),
        ("/nix/store/00000000000000000000000000000000-x264-0-unstable-2023-10-01", "x264"),
        ("/nix/store/00000000000000000000000000000000-foo-1-beta-2", "foo"),
        ("/nix/store/00000000000000000000000000000000-foo-2-rc1-3", "foo"),
        ("/nix/store/00000000000000000000000000000000-libevent-2.1-7-2.1.12-stable-8", "libevent"),
        # a git revision is a version, also where it starts with a letter (parseDrvName keeps it in the name)
        ("/nix/store/00000000000000000000000000000000-app-c41d7a0", "app"),
        ("/nix/store/00000000000000000000000000000000-app-3f9c2e1", "app"),
        ("/nix/store/00000000000000000000000000000000-app-unstable-c41d7a0", "app"),
        # nixpkgs' older unstable versions (unstable-<date>) leave the word in parseDrvName's name: not in the key
        ("/nix/store/00000000000000000000000000000000-foo-unstable-2024-05-01", "foo"),
        ("/nix/store/00000000000000000000000000000000-unstable-2024-05-01", "unstable"),
        ("/nix/store/00000000000000000000000000000000-foo-unstable", "foo-unstable"),
        ("/nix/store/00000000000000000000000000000000-nodejs-20.12.2-libv8", "nodejs-libv8"),
        ("/nix/store/00000000000000000000000000000000-app-" + "c41d7a0" * 5 + "abcde", "app"),
        # so is a release tag, and what follows it is version or suffix as after any version
        ("/nix/store/00000000000000000000000000000000-app-v1.2.3", "app"),
        ("/nix/store/00000000000000000000000000000000-app-v1.2.3-rc1", "app"),
        ("/nix/store/00000000000000000000000000000000-app-v2.0-bin", "app-bin"),
        ("/nix/store/00000000000000000000000000000000-app-c41d7a0-env", "app-env"),
        # ... but not a word, or a short hex-like part of a name, or a tag-like part before a version
        ("/nix/store/00000000000000000000000000000000-aws-sdk-v2-1.0", "aws-sdk-v2"),
        ("/nix/store/00000000000000000000000000000000-hello-deadbeef", "hello-deadbeef"),
        ("/nix/store/00000000000000000000000000000000-libfoo-abc12", "libfoo-abc12"),
    ],
)
def test_path_key_drops_hash_and_version_keeps_output(path, key):
    assert path_key(path) == key


def test_store_name_of_path_without_hash_is_the_name():
    assert store_name("/some/dir/plain-name") == "plain-name"
