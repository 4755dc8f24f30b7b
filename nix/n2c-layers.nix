# Explicit nix2container layers from a gitmine hint file, for nix2container releases without
# `layersFile`: one `buildLayer` per layer, bottom first, each told about the ones below
# (`layers = ...`) so no path is shipped twice. Two ways to say what goes in each layer:
#
# - `layersFile`: the split that `layers-file.nix` computes at build time from the hint file and the
#   image's closure (every store path placed, no list to write); read back through
#   import-from-derivation, each layer's `deps` are its store paths.
#
#     layers = import ./nix/n2c-layers.nix {
#       inherit (nix2container) buildLayer;
#       layersFile = import ./nix/layers-file.nix { gitmine = …; hints = ./layer-hints.toml; roots = [ myApp ]; };
#     };
#
# - `hints` and `packages`: each hint layer's `deps` are the packages of its keys (no
#   import-from-derivation). Keys without an entry in `packages` are skipped: their paths go where
#   nix2container puts the rest of the closure (the image's own layer). Layers whose keys all lack a
#   package are left out. A file made for several images holds up to max-layers layers for each of
#   them: give each image its own call with the packages of its own keys, so it gets its layers only.
#
#     layers = import ./nix/n2c-layers.nix {
#       inherit (nix2container) buildLayer;
#       hints = ./layer-hints.toml;
#       packages = { python3 = pkgs.python3; openssl = pkgs.openssl; app = myApp; };  # key -> package
#     };
#
# Then `image = nix2container.buildImage { name = "app"; layers = layers; config = ...; };`.
# Give the image all of them (`layers = layers`): each layer's `nestedLayers` is emptied, since
# nix2container's own (the layers below, with their nested ones) would list layer j once for every
# path down the chain, 2^(k-1) entries at layer k, and no image of more than a dozen layers builds.
# An approximation of the split: nix2container gives a layer the whole closure of its `deps` less the
# paths of the layers below, so a dependency lands in the lowest layer whose paths need it, even where
# the hints put it higher. `buildLayer { layersFile = ...; }` (nix2container PR #220) is exact.
{ buildLayer, hints ? null, packages ? null, layersFile ? null }:
let
  fromFile =
    let
      # the file names store paths; fromJSON takes no string context, so each path gets its own back
      split = builtins.fromJSON (builtins.unsafeDiscardStringContext (builtins.readFile layersFile));
      withContext = p: builtins.appendContext p { ${p} = { path = true; }; };
    in
    map (map withContext) split;
  fromHints =
    let
      data = builtins.fromTOML (builtins.readFile hints);
    in
    map (layer: builtins.concatMap (k: if packages ? ${k} then [ packages.${k} ] else [ ]) layer.keys) data.layer;
  depsLists =
    if layersFile != null && packages == null then fromFile
    else if layersFile == null && packages != null && hints != null then fromHints
    else throw "n2c-layers.nix: give layersFile (from layers-file.nix), or hints and packages (key -> package)";
  step = below: deps:
    if deps == [ ] then below else below ++ [ ((buildLayer { inherit deps; layers = below; }) // { nestedLayers = [ ]; }) ];
in
builtins.foldl' step [ ] depsLists
