// One communicator over two backends, chosen per call by where the tensor lives: tensors on
// `device_type` (CUDA) go to the device backend (NCCL), every other tensor to the host backend
// (MPI). A GPU trainer keeps its gradients and tensor-parallel activations on the GPU but its
// control values (loss terms, stop flags, norms, loader positions) in host tensors; routing by
// tensor lets the grid, the reducer and the trainer use one communicator for both.
#pragma once
#include <functional>
#include <memory>

#include "distributed/communicator.h"

namespace trafficfm::distributed {

// Builds the device backend over the ranks of a host communicator (for NCCL: the host
// communicator carries the ncclUniqueId). Called again for every split.
using DeviceBackendFactory = std::function<std::unique_ptr<Communicator>(Communicator& host)>;

std::unique_ptr<Communicator> make_routed_communicator(std::unique_ptr<Communicator> host,
                                                       torch::DeviceType device_type,
                                                       DeviceBackendFactory make_device_backend);

}  // namespace trafficfm::distributed
