"""The shared core every package imports, importing none of them: run directories and atomic outputs,
seeds and versions, declarative value checks, one-line command errors (`core.runs`), and where the
bundled configs and sample live (`core.paths`). docs/architecture.md shows the layers."""
