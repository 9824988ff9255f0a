#include "mofe/io/model_source.h"

#include "mofe/core/error.h"

namespace mofe::io {

void load_into(const ModelSource& src, torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.named_parameters()) {
    if (!src.has(p.key()))
      throw IoError("model '" + src.path() + "' has no tensor '" + p.key() + "'");
    torch::Tensor v = src.load(p.key());
    if (v.sizes() != p.value().sizes())
      throw IoError("model '" + src.path() + "': tensor '" + p.key() + "' has shape " +
                    c10::str(v.sizes()) + ", the model needs " + c10::str(p.value().sizes()));
    p.value().copy_(v);
  }
}

}  // namespace mofe::io
