# Explicit nix2container layers from a gitmine hint file, for nix2container releases without
# `layersFile`: one `buildLayer` per hint layer, bottom first, each layer's `deps` the packages of
# its keys, and each layer told about the ones below (`layers = ...`) so no path is shipped twice.
#
#   layers = import ./nix/n2c-layers.nix {
#     inherit (nix2container) buildLayer;
#     hints = ./layer-hints.toml;
#     packages = { python3 = pkgs.python3; openssl = pkgs.openssl; app = myApp; };  # key -> package
#   };
#   image = nix2container.buildImage { name = "app"; layers = layers; config = ...; };
#
# Keys without an entry in `packages` are skipped: their paths go where nix2container puts the rest
# of the closure (the image's own layer). Layers whose keys all lack a package are left out.
# Give the image all of them (`layers = layers`): each layer's `nestedLayers` is emptied, since
# nix2container's own (the layers below, with their nested ones) would list layer j once for every
# path down the chain, 2^(k-1) entries at layer k, and no image of more than a dozen layers builds.
# An approximation of the hints: nix2container gives a layer the whole closure of its `deps` less the
# paths of the layers below, so a dependency lands in the lowest layer whose packages need it, even
# where the hints put it higher. `layers-file.nix` (nix2container's `layersFile`) is exact.
{ buildLayer, hints, packages }:
let
  data = builtins.fromTOML (builtins.readFile hints);
  depsOf = layer: builtins.concatMap (k: if packages ? ${k} then [ packages.${k} ] else [ ]) layer.keys;
  step = below: layer:
    let deps = depsOf layer;
    in if deps == [ ] then below else below ++ [ ((buildLayer { inherit deps; layers = below; }) // { nestedLayers = [ ]; }) ];
in
builtins.foldl' step [ ] data.layer
