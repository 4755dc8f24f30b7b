# gitmine as a nixpkgs package, for the flake's `packages.default` and for repositories that pin
# nixpkgs without flakes (niv, npins):
#
#   gitmine = pkgs.callPackage "${gitmine-src}/nix/package.nix" { };
#
# The version is pyproject.toml's; the dependencies are its `dependencies` (a test checks the two
# lists agree). `gitmine analyze` runs the git and nix on PATH (the Nix of the user's store);
# `gitmine layout --nix-build`, the builder of layers-file.nix, needs neither.
{ lib, python3Packages }:
let
  project = (lib.importTOML ../pyproject.toml).project;
in
python3Packages.buildPythonApplication {
  pname = project.name;
  inherit (project) version;
  pyproject = true;
  src = lib.cleanSource ../.;
  build-system = [ python3Packages.setuptools ];
  dependencies = with python3Packages; [ pygit2 networkx typer rich joblib tomlkit ];
  doCheck = false; # the tests build images with Nix, which a build sandbox does not allow
  meta = {
    inherit (project) description;
    license = lib.licenses.mit;
    mainProgram = "gitmine";
  };
}
