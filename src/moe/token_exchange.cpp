#include "mofe/moe/token_exchange.h"

namespace mofe::moe {

namespace {

// The route a backward pass needs, kept alive by the autograd graph. backend and comm outlive
// every graph (they live as long as the model).
struct Route : torch::CustomClassHolder {
  dist::CommBackend* backend;
  const dist::Communicator* comm;
  std::vector<int64_t> send_rows, recv_rows;
  int64_t width = 0;  // D and dtype/device, to send zeros when no gradient arrives (the peers
  torch::TensorOptions options;  // still wait for our rows)
  Route(dist::CommBackend* b, const dist::Communicator* c, std::vector<int64_t> s,
        std::vector<int64_t> r)
      : backend(b), comm(c), send_rows(std::move(s)), recv_rows(std::move(r)) {}
};

struct ExchangeFn : torch::autograd::Function<ExchangeFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x_ND,
                               c10::intrusive_ptr<Route> route) {
    route->width = x_ND.size(1);
    route->options = x_ND.options();
    auto y =
        route->backend->all_to_all_rows(x_ND, route->send_rows, route->recv_rows, *route->comm);
    ctx->saved_data["route"] = c10::IValue::make_capsule(std::move(route));
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    auto route = c10::static_intrusive_pointer_cast<Route>(ctx->saved_data["route"].toCapsule());
    torch::Tensor g_out = grad[0];
    if (!g_out.defined()) {
      int64_t rows = 0;
      for (int64_t r : route->recv_rows) rows += r;
      g_out = torch::zeros({rows, route->width}, route->options);
    }
    // Reverse route: what we received we now send, and vice versa.
    auto g = route->backend->all_to_all_rows(g_out.contiguous(), route->recv_rows, route->send_rows,
                                             *route->comm);
    return {g, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor exchange(const torch::Tensor& x_ND, const DispatchPlan& plan, Direction direction,
                       dist::CommBackend& backend, const dist::Communicator& ep) {
  // One rank: the route is the identity, and no node needs to enter the graph.
  if (ep.size() == 1) return x_ND;
  const bool dispatch = direction == Direction::kDispatch;
  auto route = c10::make_intrusive<Route>(&backend, &ep, dispatch ? plan.send_rows : plan.recv_rows,
                                          dispatch ? plan.recv_rows : plan.send_rows);
  return ExchangeFn::apply(x_ND, std::move(route));
}

}  // namespace mofe::moe
