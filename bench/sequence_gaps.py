"""Evidence for the default burst gap: share of same-camera gaps below each threshold, per area.

    .venv/bin/python bench/sequence_gaps.py   ->  bench/results/sequence_gaps.md
"""
from pathlib import Path

from zoo.data import load_data_config, load_study
from zoo.data.sequences import gap_profile
from core.runs import write_text

records = load_study(load_data_config("lynx_records"), progress=False).records
table = gap_profile(records)
for column in table.columns[2:]:
    table[column] = table[column].map("{:.3f}".format)
out = Path(__file__).parent / "results" / "sequence_gaps.md"
header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
rows = "".join("| " + " | ".join(map(str, r)) + " |\n" for r in table.itertuples(index=False))
write_text(out, header + rows)
print(out.read_text())
