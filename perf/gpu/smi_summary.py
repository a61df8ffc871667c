#!/usr/bin/env python3
"""Adds the GPUs' clocks during a run to its perf/results record.

  smi_summary.py SAMPLES.csv NGPUS RECORD_JSON  -> the record with sm_mhz_median, power_w_median
                                                   and power_capped_share added

SAMPLES.csv: nvidia-smi --query-gpu=index,clocks.sm,power.draw,<clock event reasons>
--format=csv,noheader,nounits, sampled while the run went (perf/gpu/run-flux.sh). Only GPUs
0..NGPUS-1 under load (> 150 W) count. power_capped_share: the share of those samples whose
reasons include the software power cap (0x4). The H200s of this project's machines run at their
700 W limit in sustained runs (docs/performance.md), so the clock explains much of the spread
between calls.
"""
import json
import statistics
import sys


def main():
    path, ngpus, record = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    clocks, power, capped = [], [], 0
    try:
        lines = open(path).read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        f = [x.strip() for x in line.split(",")]
        try:
            gpu, mhz, watts, reasons = int(f[0]), float(f[1]), float(f[2]), int(f[3], 16)
        except (ValueError, IndexError):
            continue
        if gpu >= ngpus or watts <= 150:
            continue
        clocks.append(mhz)
        power.append(watts)
        capped += bool(reasons & 0x4)
    if clocks:
        record["sm_mhz_median"] = statistics.median(clocks)
        record["power_w_median"] = round(statistics.median(power), 1)
        record["power_capped_share"] = round(capped / len(clocks), 3)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
