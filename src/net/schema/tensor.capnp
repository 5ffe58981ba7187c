@0xf487e1bcb9b71b26;
# Tensors on the wire. See net/tensor_codec.h for how flowps::Tensor maps here.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("flowps::wire");

# Values agree with flowps::DType.
enum DType {
  invalid @0;
  float32 @1;
  int32 @2;
  int64 @3;
  bfloat16 @4;   # float32 truncated to its high 16 bits (reduced-precision transfer)
}

struct Tensor {
  dtype @0 :DType;
  shape @1 :List(Int64);
  # The row-major bytes, split into chunks in order: one Data holds at most
  # 2^29-1 bytes, and the sender references its own memory chunk by chunk.
  chunks @2 :List(Data);
}
