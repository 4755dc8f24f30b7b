{
  description = "gitmine: history-aware layering for Nix-built container images";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in {
      # without flakes: pkgs.callPackage ./nix/package.nix { }
      packages = forAll (pkgs: { default = pkgs.callPackage ./nix/package.nix { }; });

      apps = nixpkgs.lib.genAttrs systems (system: {
        default = { type = "app"; program = "${self.packages.${system}.default}/bin/gitmine"; };
      });

      # layersFile { gitmine, hints, roots, maxLayers ? null }: see nix/layers-file.nix
      lib.layersFile = import ./nix/layers-file.nix;
      # dockerPipeline { the same }: nixpkgs dockerTools' layeringPipeline, see nix/docker-pipeline.nix
      lib.dockerPipeline = import ./nix/docker-pipeline.nix;
    };
}
