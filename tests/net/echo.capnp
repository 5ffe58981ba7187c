@0xb4b87009428a3e83;
# A service the net tests register by name, as the ps and worker services are.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("flowps::test");
using T = import "/tensor.capnp";

interface Echo {
  # Returns the tensor, whether it arrived without a copy, and the sum of its
  # float32 elements (computed on the thread pool).
  echo @0 (tensor :T.Tensor) -> (tensor :T.Tensor, zeroCopy :Bool, sum :Float64);
}
