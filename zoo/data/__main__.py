"""`python -m zoo.data summarize PATH [--data NAME|FILE.yaml] [--json FILE] [--records FILE]` and
`python -m zoo.data init PATH --out my_study.yaml` and `python -m zoo.data export PATH --to camtrap-dp --out DIR`.

PATH is an image folder, a records CSV/Parquet or a Camtrap DP folder. The label, clock, sequence
and split rules come from a data config (configs/data/NAME.yaml or a YAML file); without one, a path
inside a bundled study gets its rules and any other path a generic config (the summary says which).
`init` writes a commented config from what it finds in PATH, to edit and pass back with --data.
`export` writes a Camtrap DP 1.0.2 package of PATH's human labels, or of a zoo.predict output's predictions
(docs/formats/camtrap-dp.md).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

from zoo.data.config import default_data_config, load_data_config
from zoo.data.sources import detect_source
from zoo.data.study import load_study
from core.runs import command, write_json, write_table


@command("zoo.data")  # a user error is one line (--debug or CAMTRAP_DEBUG=1: the traceback)
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "init":
        from zoo.data.init import write_study_config

        print(write_study_config(args.path, args.out, force=args.force, progress=not args.quiet))
        return 0
    if args.command == "export":
        from zoo.data.export import export_camtrap_dp

        result = export_camtrap_dp(args.path, args.out, data=args.data, overrides=args.set, taxonomy=args.taxonomy,
                                   sites=args.sites, timezone=args.timezone, level=args.level,
                                   metadata=args.metadata, force=args.force, progress=not args.quiet)
        print(result.summary())
        return 0
    started = time.perf_counter()
    source = detect_source(args.path)
    overrides = [f"path={args.path}", f"source={source}", *args.set]
    if args.data:
        cfg, used = load_data_config(args.data, overrides), args.data
    else:
        cfg, used = default_data_config(args.path, source, overrides)
    study = load_study(cfg, progress=not args.quiet)
    study.report["config"] = used
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
    lines = [f"{report['study']}: {report['n_records']} records from {report['source']} {report['path']}"]
    if "config" in report:
        lines.append(f"  config: {report['config']}")
    lines.append(f"  labelled {report['n_labelled']}, unlabelled {report['n_unlabelled']}, "
                 f"several labels {report['n_multi_label']}, sequences {report['n_sequences']} "
                 f"(gap {report['sequence_gap_seconds']:g} s)")
    lines += _block("labels (after normalisation)", report["labels"])
    lines += _block("tags mapped", report["mapped_tags"])
    lines += _block("tags dropped (not classes)", report["dropped_tags"])
    lines += _block("labels not in the taxonomy", report["unknown_labels"])
    lines += _block("records per site", report["sites"])
    lines += _block("sequence lengths (frames: sequences)", report["sequence_lengths"])
    lines += _block("timestamp repairs and flags", report["timestamp_flags"])
    lines.append(f"  records without coordinates: {report['n_records_without_coordinates']} "
                 f"(sites {', '.join(report['sites_without_coordinates']) or 'none'})")
    lines += _block(f"splits ({report['split_kind']})" if "split_kind" in report else "splits", report["splits"])
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
    init = sub.add_parser("init", help="write a commented study config from what PATH holds")
    init.add_argument("path", help="image folder, records CSV/Parquet or Camtrap DP folder")
    init.add_argument("--out", required=True, help="the YAML file to write (e.g. my_study.yaml)")
    init.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    init.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    export = sub.add_parser("export", help="write a standard package (Camtrap DP 1.0.2) of labels or predictions")
    export.add_argument("path", help="what summarize reads, or a zoo.predict output (preds.csv)")
    export.add_argument("--to", required=True, choices=["camtrap-dp"], help="the format to write")
    export.add_argument("--out", required=True, help="the folder to write the package into")
    export.add_argument("--data", help="data config name in configs/data or a YAML file (for records)")
    export.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a data config key")
    export.add_argument("--taxonomy", help="taxonomy CSV (label,class,order,family,genus,species,common_xx) for "
                                           "scientificName (default: the data config's or the run's)")
    export.add_argument("--sites", help="sites CSV (site,lat,lon): coordinates Camtrap DP requires (default: the data config's "
                                        "or the run's)")
    export.add_argument("--timezone", help="the cameras' time zone (e.g. Europe/Paris) for the UTC offsets Camtrap DP "
                                           "wants (default: the data config's, else times are marked UTC)")
    export.add_argument("--level", choices=["auto", "media", "event", "both"], default="auto",
                        help="observations per photo, per sequence (events) or both (auto: photos for labels, "
                             "sequences for predictions)")
    export.add_argument("--metadata", help="JSON or YAML of datapackage.json keys to set (contributors, project, "
                                           "licenses, bibliographicCitation ...)")
    export.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    export.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    return parser


if __name__ == "__main__":
    sys.exit(main())
