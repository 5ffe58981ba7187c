// OpDef: the one record of an op. Its name, input/output arity, shape function
// (which also checks attributes and input dtypes), kernels per device, and
// gradient live together, one file per family (math_ops.cc, nn_ops.cc, ...).
// Families are registered by explicit calls (RegisterStandardOps), never by
// static initialisers; main() owns the OpRegistry.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "graph/attr.h"
#include "graph/graph.h"

namespace flowps {

enum class DeviceType { kCPU, kGPU };
const char* DeviceTypeName(DeviceType t);  // "cpu", "gpu"

// What a shape function sees: the node being built, before it exists.
class ShapeContext {
 public:
  ShapeContext(const NodeSpec& spec, std::vector<DType> in_dtypes, std::vector<Shape> in_shapes)
      : spec_(spec), in_dtypes_(std::move(in_dtypes)), in_shapes_(std::move(in_shapes)) {}

  int num_inputs() const { return static_cast<int>(in_dtypes_.size()); }
  DType input_dtype(int i) const { return in_dtypes_[i]; }
  const Shape& input_shape(int i) const { return in_shapes_[i]; }
  const AttrMap& attrs() const { return spec_.attrs; }
  template <typename T> StatusOr<T> attr(const std::string& name) const {
    return GetAttr<T>(spec_.attrs, name);
  }

  // Appends the next output's dtype and shape (-1 for unknown dims).
  void add_output(DType dtype, Shape shape) {
    out_dtypes_.push_back(dtype);
    out_shapes_.push_back(std::move(shape));
  }
  const std::vector<DType>& output_dtypes() const { return out_dtypes_; }
  const std::vector<Shape>& output_shapes() const { return out_shapes_; }

 private:
  const NodeSpec& spec_;
  std::vector<DType> in_dtypes_;
  std::vector<Shape> in_shapes_;
  std::vector<DType> out_dtypes_;
  std::vector<Shape> out_shapes_;
};

class ThreadPool;
class KernelServices;  // variables, rendezvous: see kernel_services.h
class Device;          // the device the kernel runs on: see device.h

// What a kernel sees while it runs one node in one step.
class KernelContext {
 public:
  KernelContext(const Node& node, std::vector<Tensor> inputs, KernelServices* services,
                ThreadPool* pool = nullptr, Device* device = nullptr)
      : node_(node), inputs_(std::move(inputs)), outputs_(node.num_outputs()), services_(services),
        pool_(pool), device_(device) {}

  const Node& node() const { return node_; }
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  const Tensor& input(int i) const { return inputs_[i]; }
  template <typename T> StatusOr<T> attr(const std::string& name) const {
    return GetAttr<T>(node_.attrs(), name);
  }

  // Allocates output i with the given shape and the node's inferred dtype.
  Tensor* allocate_output(int i, Shape shape) {
    outputs_[i] = Tensor(node_.output_dtype(i), std::move(shape));
    return &outputs_[i];
  }
  void set_output(int i, Tensor t) { outputs_[i] = std::move(t); }
  std::vector<Tensor>& outputs() { return outputs_; }

  // Step-level services: variable reads and staged writes, Send/Recv. May be
  // null for kernels that need none.
  KernelServices* services() const { return services_; }
  // The step's compute pool, for kernels that split large work (MatMul, Conv2D)
  // with kernels::ParallelFor; may be null (run on the calling thread).
  ThreadPool* pool() const { return pool_; }
  // The device this kernel runs on; may be null for CPU kernels (GPU kernels
  // refuse to run without their GpuDevice).
  Device* device() const { return device_; }

 private:
  const Node& node_;
  std::vector<Tensor> inputs_;
  std::vector<Tensor> outputs_;
  KernelServices* services_;
  ThreadPool* pool_;
  Device* device_;
};

using ShapeFn = std::function<Status(ShapeContext&)>;
using KernelFn = std::function<Status(KernelContext&)>;
// A kernel that finishes later (Recv): it must call `done` exactly once, with
// the outputs set in the context first. The executor keeps the context alive.
using AsyncKernelFn = std::function<void(KernelContext&, std::function<void(Status)> done)>;

// A gradient flowing into a tensor: dense, or a set of rows (indices, values)
// of a tensor of `dense_shape` (the gradient of Gather).
struct GradValue {
  Output dense;
  Output indices;  // int32 or int64 [n]
  Output values;   // [n, ...row shape]
  Shape dense_shape;

  bool valid() const { return dense.valid() || indices.valid(); }
  bool sparse() const { return indices.valid(); }
};

// Builds, with the builder API, the gradients of the node's inputs from the
// gradients `dy` of its outputs (an invalid entry means no gradient flows into
// that output: treat as zero). Fills dx with one entry per input; an invalid
// entry means that input gets no gradient (for example integer indices).
using GradFn = std::function<Status(Node& node, const std::vector<GradValue>& dy,
                                    std::vector<GradValue>* dx)>;

struct OpDef {
  std::string name;
  int num_inputs = 0;        // -1: any number (variadic, e.g. Concat)
  bool stateful = false;     // Variable, Assign, Send, Recv: never pruned as duplicates
  ShapeFn shape_fn;          // required
  std::map<DeviceType, KernelFn> kernels;
  std::map<DeviceType, AsyncKernelFn> async_kernels;  // used instead of kernels when present
  GradFn grad;               // empty: not differentiable
};

class OpRegistry {
 public:
  // AlreadyExists if the name is taken; InvalidArgument without a shape fn.
  Status Register(OpDef def);
  // Adds or replaces the kernel of an op for one device (used by the CUDA build).
  Status AddKernel(const std::string& op, DeviceType device, KernelFn fn);
  Status AddAsyncKernel(const std::string& op, DeviceType device, AsyncKernelFn fn);
  const OpDef* Find(const std::string& name) const;  // nullptr if unknown
  std::vector<std::string> OpNames() const;

 private:
  std::map<std::string, std::unique_ptr<OpDef>> ops_;
};

// Registers every standard op family into `registry` (array, state, math, nn;
// see ops.h for the builder functions). Fails only if a name is already taken.
Status RegisterStandardOps(OpRegistry* registry);

}  // namespace flowps
