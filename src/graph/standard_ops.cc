#include "graph/op_registry.h"
#include "graph/op_util.h"

namespace flowps {

Status RegisterStandardOps(OpRegistry* registry) {
  FLOWPS_RETURN_IF_ERROR(RegisterArrayOps(registry));
  FLOWPS_RETURN_IF_ERROR(RegisterStateOps(registry));
  FLOWPS_RETURN_IF_ERROR(RegisterMathOps(registry));
  FLOWPS_RETURN_IF_ERROR(RegisterSendRecvOps(registry));
  return RegisterNNOps(registry);
}

}  // namespace flowps
