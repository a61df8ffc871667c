#!/usr/bin/env python3
"""Gather every pardit HDF5 output under a folder (a scaling study's results, or any files)
into scaling.csv, scaling.md, scaling.jsonl (perf/results format) and PNG plots.

    python3 perf/scaling/report.py RESULTS_DIR [--out REPORT_DIR]   (default RESULTS_DIR/report)

Exit status: 0 when at least one run was read, 1 when none was (or a file was unreadable).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import plots  # noqa: E402
import tables  # noqa: E402
from results import gather  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="folder searched recursively for *.h5")
    ap.add_argument("--out", type=Path, help="where the report goes (default RESULTS/report)")
    args = ap.parse_args()
    out = args.out or args.results / "report"
    out.mkdir(parents=True, exist_ok=True)
    rows, problems = gather(args.results)
    for p in problems:
        print(f"warning: skipped {p}", file=sys.stderr)
    tables.write_csv(rows, out / "scaling.csv")
    tables.write_jsonl(rows, out / "scaling.jsonl")
    md = tables.markdown(rows, problems)
    (out / "scaling.md").write_text(md)
    print(md)
    if not rows:
        return 1
    for png in plots.all_plots(rows, out):
        print(f"wrote {png}")
    print(f"wrote {out / 'scaling.csv'}, {out / 'scaling.md'} and {out / 'scaling.jsonl'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
