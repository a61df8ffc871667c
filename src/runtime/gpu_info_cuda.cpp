// GPU selection and discovery (CUDA builds): CUDA runtime for the device, NVML for NVLink peers.
#include <cuda_runtime_api.h>
#include <nvml.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "gpu_info.hpp"
#include "pardit/comm/checks.hpp"
#include "pardit/runtime/device.hpp"
#include "pardit/runtime/mpi_session.hpp"

namespace pardit::runtime {
namespace detail {
namespace {

// CUDA prints bus ids as "0000:1b:00.0"; NVML as "00000000:1B:00.0". Normalise to 4-digit domain,
// upper case, so peers can be matched across ranks.
std::string normalise_pci(std::string id) {
  for (char& c : id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const auto colon = id.find(':');
  if (colon != std::string::npos && colon > 4) id = id.substr(colon - 4);
  return id;
}

// RAII nvmlInit/nvmlShutdown; NVML is optional (missing driver library: no NVLink info).
class NvmlSession {
 public:
  NvmlSession() : ok_(nvmlInit_v2() == NVML_SUCCESS) {}
  ~NvmlSession() {
    if (ok_) nvmlShutdown();
  }
  NvmlSession(const NvmlSession&) = delete;
  NvmlSession& operator=(const NvmlSession&) = delete;
  bool ok() const { return ok_; }

 private:
  bool ok_;
};

}  // namespace

void fill_gpu_info(RankInfo& info, int gpu_index) {
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, gpu_index));
  info.gpu_name = prop.name;
  char bus[32] = {};
  CUDA_CHECK(cudaDeviceGetPCIBusId(bus, sizeof(bus), gpu_index));
  info.gpu_pci_bus_id = normalise_pci(bus);
  char uuid[64];
  const unsigned char* u = reinterpret_cast<const unsigned char*>(prop.uuid.bytes);
  std::snprintf(uuid, sizeof(uuid), "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
                u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
  info.gpu_uuid = uuid;

  NvmlSession nvml;
  if (!nvml.ok()) return;
  nvmlDevice_t device;
  if (nvmlDeviceGetHandleByPciBusId_v2(bus, &device) != NVML_SUCCESS) return;
  for (unsigned link = 0; link < NVML_NVLINK_MAX_LINKS; ++link) {
    nvmlEnableState_t active = NVML_FEATURE_DISABLED;
    if (nvmlDeviceGetNvLinkState(device, link, &active) != NVML_SUCCESS || active != NVML_FEATURE_ENABLED) continue;
    ++info.nvlink_count;
    nvmlPciInfo_t remote{};
    if (nvmlDeviceGetNvLinkRemotePciInfo_v2(device, link, &remote) != NVML_SUCCESS) continue;
    const std::string peer = normalise_pci(remote.busId);
    // With NVSwitch the remote end is the switch: every GPU behind a switch counts as a peer;
    // record the switch id too, matched below by "all GPUs with links" on the node.
    if (std::find(info.nvlink_peer_pci.begin(), info.nvlink_peer_pci.end(), peer) == info.nvlink_peer_pci.end())
      info.nvlink_peer_pci.push_back(peer);
  }
  // NVSwitch systems (HGX H100/H200): links end at switches, not GPUs. Then every other visible GPU
  // on the node is an NVLink peer; list them by bus id from the CUDA runtime's P2P view.
  int count = 0;
  CUDA_CHECK(cudaGetDeviceCount(&count));
  for (int other = 0; other < count; ++other) {
    if (other == gpu_index) continue;
    nvmlDevice_t other_device;
    char other_bus[32] = {};
    if (cudaDeviceGetPCIBusId(other_bus, sizeof(other_bus), other) != cudaSuccess) continue;
    if (nvmlDeviceGetHandleByPciBusId_v2(other_bus, &other_device) != NVML_SUCCESS) continue;
    nvmlGpuP2PStatus_t status = NVML_P2P_STATUS_UNKNOWN;
    if (nvmlDeviceGetP2PStatus(device, other_device, NVML_P2P_CAPS_INDEX_NVLINK, &status) == NVML_SUCCESS &&
        status == NVML_P2P_STATUS_OK) {
      const std::string peer = normalise_pci(other_bus);
      if (std::find(info.nvlink_peer_pci.begin(), info.nvlink_peer_pci.end(), peer) == info.nvlink_peer_pci.end())
        info.nvlink_peer_pci.push_back(peer);
    }
  }
}

}  // namespace detail

int select_device(const MpiSession& session) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) return -1;
  int device = 0;
  if (const char* forced = std::getenv("PARDIT_DEVICE")) {
    device = std::atoi(forced);
    PARDIT_INPUT_CHECK(device >= 0 && device < count, "PARDIT_DEVICE={} but {} GPU(s) are visible", forced, count);
  } else if (count == 1) {
    device = 0;  // Slurm --gpu-bind / --gpus-per-task=1 or a per-rank CUDA_VISIBLE_DEVICES
  } else {
    device = session.local_rank() % count;
    if (session.local_size() > count && session.local_rank() == 0)
      std::fprintf(stderr, "pardit: warning: %d ranks share %d visible GPUs on %s\n", session.local_size(), count,
                   session.node_name().c_str());
  }
  CUDA_CHECK(cudaSetDevice(device));
  return device;
}

}  // namespace pardit::runtime
