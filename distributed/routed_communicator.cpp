#include "distributed/routed_communicator.h"

#include <stdexcept>
#include <string>

namespace trafficfm::distributed {
namespace {

class RoutedCommunicator : public Communicator {
 public:
  RoutedCommunicator(std::unique_ptr<Communicator> host, torch::DeviceType device_type,
                     DeviceBackendFactory make_device_backend)
      : host_(std::move(host)),
        device_type_(device_type),
        make_device_backend_(std::move(make_device_backend)),
        device_(make_device_backend_(*host_)) {
    if (device_->size() != host_->size() || device_->rank() != host_->rank()) {
      throw std::logic_error("routed communicator: the device backend's ranks differ from the host's");
    }
  }
  ~RoutedCommunicator() override {
    device_.reset();  // it may still reference the host communicator
  }

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  const char* backend() const override { return device_->backend(); }

  std::shared_ptr<Work> all_reduce_async(torch::Tensor t, ReduceOp op) override {
    return route(t).all_reduce_async(t, op);
  }
  std::shared_ptr<Work> reduce_scatter_async(torch::Tensor input, torch::Tensor output,
                                             ReduceOp op) override {
    return route(input, output).reduce_scatter_async(input, output, op);
  }
  std::shared_ptr<Work> all_gather_async(torch::Tensor input, torch::Tensor output) override {
    return route(input, output).all_gather_async(input, output);
  }
  std::shared_ptr<Work> broadcast_async(torch::Tensor t, int root) override {
    return route(t).broadcast_async(t, root);
  }
  void barrier() override {
    host_->barrier();
    device_->barrier();
  }
  torch::Tensor allocate_buffer(std::int64_t numel, const torch::TensorOptions& options) override {
    return (options.device().type() == device_type_ ? *device_ : *host_).allocate_buffer(numel, options);
  }
  std::unique_ptr<Communicator> split(int color, int key) override {
    return std::make_unique<RoutedCommunicator>(host_->split(color, key), device_type_, make_device_backend_);
  }

 private:
  Communicator& route(const torch::Tensor& t) {
    return t.device().type() == device_type_ ? *device_ : *host_;
  }
  Communicator& route(const torch::Tensor& input, const torch::Tensor& output) {
    if (input.device() != output.device()) {
      throw std::invalid_argument("routed communicator: input on " + input.device().str() +
                                  " but output on " + output.device().str());
    }
    return route(input);
  }

  std::unique_ptr<Communicator> host_;
  torch::DeviceType device_type_;
  DeviceBackendFactory make_device_backend_;
  std::unique_ptr<Communicator> device_;
};

}  // namespace

std::unique_ptr<Communicator> make_routed_communicator(std::unique_ptr<Communicator> host,
                                                       torch::DeviceType device_type,
                                                       DeviceBackendFactory make_device_backend) {
  return std::make_unique<RoutedCommunicator>(std::move(host), device_type, std::move(make_device_backend));
}

}  // namespace trafficfm::distributed
