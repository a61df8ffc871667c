// One GPU per rank.
#pragma once

namespace pardit::runtime {

class MpiSession;

// The CUDA device ordinal this rank should use, or -1 without CUDA / without visible GPUs.
// Rule: PARDIT_DEVICE if set; else if only one device is visible (Slurm's --gpu-bind /
// --gpus-per-task, or CUDA_VISIBLE_DEVICES narrowed per rank) that one; else the node-local rank
// modulo the visible count (warns when ranks must share GPUs). Also makes it the current device.
int select_device(const MpiSession& session);

}  // namespace pardit::runtime
