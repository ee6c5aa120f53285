"""Speed of the lynx fit (4 chains x 1000 draws) per back-end, cold and warm compile cache, and scaling in sites.

    nice -n 10 .venv/bin/python bench/occupancy_speed.py --out bench/results/occupancy_speed

Each timing runs in a fresh process (imports included in 'process wall'), with its own PyTensor compile
directory and numba cache: the first run of a back-end is 'cold', the second 'warm'. ESS/s is the
smallest bulk ESS of the reported quantities (p, psi, conditionals) over the fit's wall time (model
build + compile + sampling + derived quantities). Writes <out>.json and <out>.md.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child(args) -> None:
    """One fit in this process; prints a JSON line."""
    t_start = time.perf_counter()
    import numpy as np

    from occupancy.derived import conditional_set
    from occupancy.inference import SamplerSpec, fit
    from occupancy.model import ModelSpec
    from occupancy.summary import reported

    interactions = (("lynx", "deer"), ("lynx", "chamois"))
    if args.sites:
        from occupancy.simulate import simulate

        species = ("lynx", "deer", "chamois", "fox", "cat")
        sim = simulate(n_sites=args.sites, species=species, interactions=interactions,
                       natural={"lynx": 0.0, "deer": 1.0, "chamois": 0.3, "fox": 0.8, "cat": 0.2, "lynx:deer": 0.8, "lynx:chamois": 0.5},
                       detection={s: 0.5 for s in species}, seed=1)
        data = sim.detection_data("ground_truth")
    else:
        from occupancy.study import detection_data, load_study_records

        records = load_study_records({"data": "lynx_records"})
        study = {"species": {"lynx": ["lynx"], "deer": ["chevreuil"], "chamois": ["chamois"], "fox": ["renard"], "cat": ["chat"]},
                 "truth_column": {"jura": "labels", "ain": "label_manual"}, "area_column": "area",
                 "classifier_column": "label_cnn", "classified_areas": ["ain"],
                 "occasions": {"kind": "month", "months": list(range(3, 12))}}
        data = detection_data(records, study, {"mode": "ground_truth"})
    conds = conditional_set(data.species, [{"species": "lynx", "given": ["deer", "chamois"]}])
    t_data = time.perf_counter()
    result = fit(data, ModelSpec(interactions=interactions),
                 SamplerSpec(backend=args.backend, chains=args.chains, draws=args.draws, tune=args.tune or args.draws, seed=1), conds)
    t_end = time.perf_counter()
    rep = reported(result.summary)
    print("RESULT " + json.dumps({
        "backend": result.timings["backend"], "sites": data.shape[1], "fit_s": t_end - t_data,
        "sample_s": result.timings["sample_s"], "process_s": t_end - t_start,
        "min_ess_bulk": float(rep["ess_bulk"].min()), "max_r_hat": float(rep["r_hat"].max()),
        "ess_per_s": float(rep["ess_bulk"].min()) / (t_end - t_data),
    }), flush=True)


def spawn(backend: str, cache: Path, sites: int = 0, draws: int = 1000, chains: int = 4, tune: int = 0) -> dict:
    env = dict(os.environ, PYTENSOR_FLAGS=f"compiledir={cache / 'pytensor'}", NUMBA_CACHE_DIR=str(cache / "numba"),
               OCCUPANCY_JAX_CACHE=str(cache / "jax"), PYTHONPATH=str(ROOT))
    cmd = [sys.executable, __file__, "--child", "--backend", backend, "--sites", str(sites), "--draws", str(draws), "--chains", str(chains),
           "--tune", str(tune)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
    if not line:
        raise RuntimeError(f"child failed:\n{out.stderr[-3000:]}")
    res = json.loads(line[0][7:])
    res["process_wall_s"] = wall
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--backend", default="pymc")
    parser.add_argument("--backends", default="pymc,nutpie,numpyro")
    parser.add_argument("--sites", type=int, default=0)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--tune", type=int, default=500, help="tuning steps of the lynx fits (the sampler config default)")
    parser.add_argument("--scaling", default="100,500,1000,2000,5000")
    parser.add_argument("--scaling-backend", default="numpyro")
    parser.add_argument("--lynx-from", default=None, help="reuse the lynx timings of an earlier JSON (only rerun scaling)")
    parser.add_argument("--out", default="bench/results/occupancy_speed")
    args = parser.parse_args()
    if args.child:
        return child(args)
    from core.runs import write_json, write_text

    results = {"load_average_at_start": os.getloadavg(), "cpus": os.cpu_count(), "lynx": [], "scaling": []}
    out = Path(args.out)
    if args.lynx_from:
        earlier = json.loads(Path(args.lynx_from).read_text())
        results.update(lynx=earlier["lynx"], load_average_at_start=earlier["load_average_at_start"])
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ([] if args.lynx_from else args.backends.split(",")):
            cache = Path(tmp) / backend
            for state in ("cold", "warm"):
                res = spawn(backend, cache, tune=args.tune)
                res["cache"] = state
                results["lynx"].append(res)
                write_json(out.with_suffix(".json"), results)
                print(res, flush=True)
        cache = Path(tmp) / "scaling"
        spawn(args.scaling_backend, cache, sites=50, draws=100, chains=2)  # warm the cache
        for n in map(int, args.scaling.split(",")):
            res = spawn(args.scaling_backend, cache, sites=n, draws=500, chains=2)
            results["scaling"].append(res)
            write_json(out.with_suffix(".json"), results)
            print(res, flush=True)
    results["load_average_at_end"] = os.getloadavg()
    write_json(out.with_suffix(".json"), results)
    lines = ["Lynx ground truth (29 sites x 9 occasions x 5 species, 2 interactions), "
             f"4 chains x 1000 draws (+{args.tune or 1000} tune), "
             f"{results['cpus']} CPUs, load average {results['load_average_at_start'][0]:.1f} at start.", "",
             "| back-end | compile cache | fit wall (s) | sampling (s) | process wall incl. imports (s) | min bulk ESS | max R-hat | ESS/s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results["lynx"]:
        lines.append(f"| {r['backend']} | {r['cache']} | {r['fit_s']:.1f} | {r['sample_s']:.1f} | {r['process_wall_s']:.1f} | "
                     f"{r['min_ess_bulk']:.0f} | {r['max_r_hat']:.3f} | {r['ess_per_s']:.0f} |")
    lines += ["", f"Scaling (simulated, 5 species, 9 occasions, {args.scaling_backend}, 2 chains x 500 draws; the data are "
              "constants of the compiled graph, so each size compiles once and sampling time includes that compile):", "",
              "| sites | fit wall (s) | sampling (s) | sampling s per 1000 sites | min bulk ESS |", "|---|---|---|---|---|"]
    for r in results["scaling"]:
        lines.append(f"| {r['sites']} | {r['fit_s']:.1f} | {r['sample_s']:.1f} | {1000 * r['sample_s'] / r['sites']:.2f} | {r['min_ess_bulk']:.0f} |")
    lines += ["", f"Command: `.venv/bin/python bench/occupancy_speed.py {' '.join(sys.argv[1:])}`"
              + (f" (scaling rerun with `--lynx-from` an earlier JSON)" if args.lynx_from else ""),
              f"Load average at the end: {results['load_average_at_end'][0]:.1f}."]
    write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
