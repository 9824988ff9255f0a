#include "mofe/io/model_source.h"

#include "mofe/core/error.h"

namespace mofe::io {

int64_t load_into(const ModelSource& src, model::TransformerImpl& model) {
  torch::NoGradGuard no_grad;
  int64_t adapters = 0, adapters_missing = 0;
  std::string missing_adapter;
  for (const auto& e : model.params().entries()) {
    if (!src.has(e.name)) {
      if (!e.role.is_adapter())
        throw IoError("model '" + src.path() + "' has no tensor '" + e.name + "'");
      ++adapters_missing;
      missing_adapter = e.name;
      continue;
    }
    torch::Tensor v = src.load(e.name);
    if (v.sizes().vec() != e.shape())
      throw IoError("model '" + src.path() + "': tensor '" + e.name + "' has shape " +
                    c10::str(v.sizes()) + ", the model needs " +
                    c10::str(c10::IntArrayRef(e.shape())));
    e.assign(v);
    adapters += e.role.is_adapter() ? 1 : 0;
  }
  if (adapters > 0 && adapters_missing > 0)
    throw IoError("model '" + src.path() + "' holds adapters but not '" + missing_adapter + "'");
  return adapters;
}

}  // namespace mofe::io
