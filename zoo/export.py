"""`python -m zoo.export run_dir=RUN out=model.onnx`: a self-contained ONNX model of a zoo.train run.

The file carries what prediction needs besides the weights, in its metadata (`camtrap_zoo`, JSON): the class
list, the preprocessing (size, mean, std, interpolation, resize rule), the calibrated temperature and the
sequence pooling kind, plus the run and checkpoint it came from. `zoo.predict onnx=model.onnx` runs it alone
(ONNX Runtime, no run directory). The head's location/time prior, attention pooler and roll-up are not part of
the file: `onnx_head` in the metadata says which components were dropped.
"""
from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from core.paths import CONFIG_DIR
from core.runs import Rule, atomic_path, file_sha256, hydra_command, validate
from zoo.models.onnx import export_onnx, write_metadata
from zoo.predict import load_head, load_run

log = logging.getLogger("zoo.export")
EXPORT_RULES = {
    "out": Rule(lambda o: Path(o).suffix.lower() == ".onnx", "a .onnx file"),
    "checkpoint": Rule(lambda c: c in ("best", "last") or Path(c).is_file(), "best, last or an existing .pt file"),
}


def export(run_dir: str | Path, out: str | Path, checkpoint: str = "best") -> Path:
    """Write `out` (atomically); returns its path."""
    validate({"out": str(out), "checkpoint": checkpoint}, EXPORT_RULES)
    model, data, classes, _, ckpt = load_run(run_dir, checkpoint)
    head = load_head(ckpt, classes, run_dir)
    pooling = head.pooling if head.pooling != "attention" else "mean_probs"
    dropped = [name for name, on in (("prior", head.prior_ is not None), ("attention pooling", head.pooling == "attention"),
                                     ("roll-up", head.rollup != "none")) if on]
    metadata = {"classes": list(classes), "preprocessing": data.to_dict(), "temperature": float(head.temperature_),
                "pooling": pooling, "run_dir": str(Path(run_dir).resolve()), "checkpoint": str(ckpt),
                "checkpoint_sha256": file_sha256(ckpt), "onnx_head": {"dropped": dropped}}
    out = Path(out)
    with atomic_path(out) as tmp:
        export_onnx(model.float(), data.img_size, tmp)
        write_metadata(tmp, metadata)
    if dropped:
        log.warning("the ONNX file applies temperature and %s pooling only; left out: %s", pooling, ", ".join(dropped))
    log.info("%s: %d classes, %d px input, T = %.3f -> %s", ckpt, len(classes), data.img_size, head.temperature_, out)
    return out


@hydra_command("zoo.export", config_path=str(CONFIG_DIR), config_name="export")
def main(cfg: DictConfig) -> None:
    print(export(cfg.run_dir, cfg.out, cfg.checkpoint))


if __name__ == "__main__":
    main()
