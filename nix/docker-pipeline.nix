# layeringPipeline: for nixpkgs dockerTools (`streamLayeredImage`, `buildLayeredImage`), the
# `layeringPipeline` that comes closest to a gitmine hint file's split of an image's closure, computed
# at build time like layers-file.nix (same arguments; no nixpkgs needed by the function itself).
#
#   image = pkgs.dockerTools.streamLayeredImage {
#     name = "app";
#     contents = [ myApp ];
#     layeringPipeline = import ./nix/docker-pipeline.nix {
#       gitmine = pkgs.gitmine; hints = ./layer-hints.toml; roots = [ myApp ];   # roots: the contents
#     };
#   };
#
# The pipeline is a file: dockerTools reads a pipeline given as a path or a derivation. Where it takes
# only a Nix list, read it back through import-from-derivation:
#   layeringPipeline = builtins.fromJSON (builtins.unsafeDiscardStringContext (builtins.readFile (import ./nix/docker-pipeline.nix { ... })));
#
# dockerTools cuts a graph by dependency only (`subcomponent_out`: named paths with everything they
# reference): each layer, bottom first, takes the closure of its paths less the layers below, so a
# dependency lands in the lowest layer whose paths need it, as with released nix2container's layers.
args: import ./layers-file.nix (args // { pipeline = true; name = args.name or "layering-pipeline.json"; })
