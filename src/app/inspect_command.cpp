// `pardit inspect FILE.h5`: a human summary of an output file.
#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "pardit/app/commands.hpp"
#include "pardit/io/output_file.hpp"

namespace pardit::app {

void add_inspect_command(CLI::App& root, Action& action) {
  auto file = std::make_shared<std::string>();
  CLI::App* cmd = root.add_subcommand("inspect", "summarise a pardit output file");
  cmd->add_option("file", *file, "HDF5 file written by `pardit run`")->required()->check(CLI::ExistingFile);
  cmd->callback([file, &action] {
    action = [file] {
      io::OutputData d = io::read_output(*file);
      auto attr = [&](const char* k) { return d.attributes.count(k) ? d.attributes.at(k) : std::string("-"); };
      fmt::print("{}\n  pardit {} ({}), created {}\n  command: {}\n", *file, attr("pardit_version"),
                 attr("git_revision"), attr("created_utc"), attr("command_line"));
      fmt::print("  model {} | dtype {} | device {} | mesh {} | conditioning {}\n", attr("model"), attr("dtype"),
                 attr("device"), attr("mesh"), attr("conditioning"));
      fmt::print("  complete: {}   world size: {}\n", d.complete ? "yes" : "NO (partial results)", d.world_size);
      if (d.latents.defined()) {
        at::Tensor l = d.latents;
        fmt::print("  latents [{}]: mean {:.4f} std {:.4f} min {:.4f} max {:.4f}, finite: {}\n",
                   fmt::join(l.sizes(), ", "), l.mean().item<double>(), l.std().item<double>(),
                   l.min().item<double>(), l.max().item<double>(), at::isfinite(l).all().item<bool>() ? "yes" : "NO");
      }
      if (d.timings.count("step_seconds")) {
        at::Tensor s = d.timings.at("step_seconds");  // [world, P, steps]
        at::Tensor valid = s.masked_select(at::isfinite(s));
        if (valid.numel() > 0) {
          // The slowest rank sets the pace of a step: max over ranks, then the median step.
          at::Tensor per_step = at::nan_to_num(s, 0.0).amax(0).flatten();
          fmt::print("  step time: median {:.2f} ms (slowest rank), {} steps x {} prompt(s)\n",
                     per_step.median().item<double>() * 1e3, s.size(2), s.size(1));
        }
      }
      if (d.timings.count("step_comm_wait_seconds")) {
        // Per rank, the median over its steps; the rank that waits least sets the others' pace.
        const at::Tensor w = d.timings.at("step_comm_wait_seconds").to(at::kDouble).flatten(1);  // [world, P*steps]
        std::vector<std::pair<double, int64_t>> medians;
        for (int64_t r = 0; r < w.size(0); ++r) {
          const at::Tensor v = w[r].masked_select(at::isfinite(w[r]));
          if (v.numel() > 0) medians.emplace_back(v.median().item<double>() * 1e3, r);
        }
        std::sort(medians.begin(), medians.end());
        if (!medians.empty() && medians.back().first > 0)
          fmt::print("  comm wait per step (median): least {:.2f} ms (rank {}), most {:.2f} ms (rank {}) over {} rank(s)\n",
                     medians.front().first, medians.front().second, medians.back().first, medians.back().second,
                     medians.size());
      }
      std::map<std::string, int> ranks_per_node;
      for (const auto& n : d.node_name) ranks_per_node[n]++;
      fmt::print("  nodes:");
      for (const auto& [n, c] : ranks_per_node) fmt::print(" {} ({} rank{})", n, c, c == 1 ? "" : "s");
      fmt::print("\n");
      for (const auto& [name, t] : d.comm)
        if (name.ends_with("_bytes") && t.sum().item<int64_t>() > 0)
          fmt::print("  comm {}: {:.1f} MiB total\n", name, t.sum().item<double>() / (1 << 20));
      return 0;
    };
  });
}

}  // namespace pardit::app
