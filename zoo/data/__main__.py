"""`python -m zoo.data summarize PATH [--data NAME] [--json FILE] [--records FILE]`.

PATH is an image folder, a records CSV/Parquet or a Camtrap DP folder. The label, clock, sequence
and split rules come from a data config (configs/data/NAME.yaml); by default the bundled lynx
study's rules for that kind of source.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

from zoo.data.config import load_data_config
from zoo.data.sources import detect_source
from zoo.data.study import load_study
from zoo.runs import write_json, write_table

DEFAULT_CONFIG = {"images": "lynx", "records": "lynx_records", "camtrap_dp": "camtrap_dp"}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    source = detect_source(args.path)
    overrides = [f"path={args.path}", f"source={source}", *args.set]
    cfg = load_data_config(args.data or DEFAULT_CONFIG[source], overrides)
    study = load_study(cfg, progress=not args.quiet)
    study.report["seconds"] = round(time.perf_counter() - started, 2)
    print(format_summary(study.report))
    if args.json:
        write_json(args.json, study.report)
    if args.records:
        write_table(args.records, study.records)
    if args.problems and len(study.problems):
        write_table(args.problems, study.problems)
    return 0


def format_summary(report: dict) -> str:
    lines = [f"{report['study']}: {report['n_records']} records from {report['source']} {report['path']}",
             f"  labelled {report['n_labelled']}, unlabelled {report['n_unlabelled']}, "
             f"several labels {report['n_multi_label']}, sequences {report['n_sequences']} "
             f"(gap {report['sequence_gap_seconds']:g} s)"]
    lines += _block("labels (after normalisation)", report["labels"])
    lines += _block("tags mapped", report["mapped_tags"])
    lines += _block("tags dropped (not classes)", report["dropped_tags"])
    lines += _block("labels not in the taxonomy", report["unknown_labels"])
    lines += _block("records per site", report["sites"])
    lines += _block("sequence lengths (frames: sequences)", report["sequence_lengths"])
    lines += _block("timestamp repairs and flags", report["timestamp_flags"])
    lines.append(f"  records without coordinates: {report['n_records_without_coordinates']} "
                 f"(sites {', '.join(report['sites_without_coordinates']) or 'none'})")
    lines += _block("splits", report["splits"])
    lines.append(f"  sequences split across sides: {report['leaking_sequences']}")
    lines += _block("problems", report["problems"])
    if "seconds" in report:
        lines.append(f"  ({report['seconds']} s)")
    return "\n".join(lines)


def _block(title: str, counts: dict, limit: int = 40) -> list[str]:
    if not counts:
        return [f"  {title}: none"]
    items = list(counts.items())
    width = max(len(str(k)) for k, _ in items[:limit])
    out = [f"  {title}:"] + [f"    {str(k):<{width}}  {v}" for k, v in items[:limit]]
    if len(items) > limit:
        out.append(f"    ... and {len(items) - limit} more")
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m zoo.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    summarize = sub.add_parser("summarize", help="print a dataset summary")
    summarize.add_argument("path", help="image folder, records CSV/Parquet or Camtrap DP folder")
    summarize.add_argument("--data", help="data config name in configs/data or a YAML file (rules to apply)")
    summarize.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                           help="override a data config key, e.g. --set sequences.gap_seconds=120")
    summarize.add_argument("--json", help="also write the summary as JSON")
    summarize.add_argument("--records", help="also write the records table (.parquet or .csv)")
    summarize.add_argument("--problems", help="also write the per-file problems (.csv)")
    summarize.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    return parser


if __name__ == "__main__":
    sys.exit(main())
