#include "core/device.h"

#include <torch/torch.h>

#include "core/error.h"

namespace fratmae {

void check_device(const std::string& device, const std::string& command) {
  const std::string where = command + ": --device " + device + ": ";
  if (device == "cpu") return;
  if (device.rfind("cuda", 0) != 0) throw Error(where + "give cpu, cuda or cuda:N");
  int64_t index = 0;
  if (device.size() > 4) {
    const std::string n = device.substr(device.size() > 5 && device[4] == ':' ? 5 : 4);
    if (device[4] != ':' || n.empty() || n.find_first_not_of("0123456789") != std::string::npos)
      throw Error(where + "give cpu, cuda or cuda:N");
    index = std::stoll(n);
  }
  if (!torch::cuda::is_available())
    throw Error(where + "no GPU is available (this LibTorch " +
                std::string(at::hasCUDA() ? "has CUDA but sees no GPU" : "was built without CUDA") +
                "); use --device cpu");
  const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
  if (index >= count)
    throw Error(where + "there " + (count == 1 ? "is 1 GPU" : "are " + std::to_string(count) + " GPUs") +
                " (cuda:0" + (count > 1 ? "-cuda:" + std::to_string(count - 1) : "") + ")");
}

}  // namespace fratmae
