{
  description = "gitmine: history-aware layering for Nix-built container images";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in {
      packages = forAll (pkgs: {
        default = pkgs.python3Packages.buildPythonApplication {
          pname = "gitmine";
          version = "0.1.0";
          pyproject = true;
          src = ./.;
          build-system = [ pkgs.python3Packages.setuptools ];
          dependencies = with pkgs.python3Packages; [ pygit2 networkx typer rich joblib tomlkit ];
          nativeCheckInputs = [ pkgs.python3Packages.pytestCheckHook pkgs.git pkgs.nix ];
          doCheck = false; # the end-to-end tests build images with Nix, which the sandbox does not allow
        };
      });

      apps = nixpkgs.lib.genAttrs systems (system: {
        default = { type = "app"; program = "${self.packages.${system}.default}/bin/gitmine"; };
      });

      # layersFile { gitmine, hints, roots, maxLayers ? null }: see nix/layers-file.nix
      lib.layersFile = import ./nix/layers-file.nix;
      # dockerPipeline { the same }: nixpkgs dockerTools' layeringPipeline, see nix/docker-pipeline.nix
      lib.dockerPipeline = import ./nix/docker-pipeline.nix;
    };
}
