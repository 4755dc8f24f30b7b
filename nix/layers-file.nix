# layersFile: the layer split of an image's closure, computed at build time from a gitmine hint
# file, as the JSON that nix2container's `buildLayer { layersFile = ...; }` consumes (a list of
# store-path lists, bottom layer first).
#
#   layersFile {
#     gitmine = pkgs.gitmine;            # a package with bin/gitmine
#     hints = ./layer-hints.toml;        # written by `gitmine analyze`
#     roots = [ myApp ];                 # what goes into the image
#     maxLayers = 100;                   # optional: defaults to the hint file's budget
#   }
#
# It needs no nixpkgs: a structured-attrs derivation whose builder is gitmine itself, reading the
# closure graph Nix exports (paths, sizes, references) and writing the layers to $out.
#
# `system` defaults to the gitmine package's (so flakes, which evaluate purely, need not pass it).
# `pipeline = true` writes nixpkgs dockerTools' `layeringPipeline` instead (see docker-pipeline.nix).
{ gitmine, hints, roots, maxLayers ? null, name ? "layers.json", pipeline ? false
, system ? (if builtins.isAttrs gitmine && gitmine ? system then gitmine.system else builtins.currentSystem)
}:
derivation {
  inherit name system;
  __structuredAttrs = true;
  exportReferencesGraph.graph = roots;
  builder = "${gitmine}/bin/gitmine";
  args = [ "layout" "--nix-build" "--hints" hints ]
    ++ (if maxLayers == null then [ ] else [ "--max-layers" (toString maxLayers) ])
    ++ (if pipeline then [ "--pipeline" ] else [ ]);
}
