"""`python -m zoo.report`: the document a field ecologist decides from.

Classifier runs are judged by what their mistakes do to the ecological answer: each occupancy fit is
compared with the ground-truth fit (verdict first), then the forest and deviation plots, how much
verification is enough, the leaderboard of classifier runs and one section per model. Markdown with PNG
figures, and one self-contained HTML file. Reads run directories; never retrains.

Modules: `inputs` (reading runs and fits), `tables`, `figures`, `render` (Markdown and HTML from one
list of blocks), `build` (the report), `cli`.
"""
from zoo.report.build import build_report
from zoo.report.inputs import find_runs

__all__ = ["build_report", "find_runs", "main"]


def main() -> None:
    from zoo.report.cli import main as cli

    cli()
