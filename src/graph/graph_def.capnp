# GraphDef: a serialized flowps graph (see graph_def.h). Nodes are listed in a
# topological order: every input and control input names an earlier node.
@0xa183da5387c239d2;

$import "/capnp/c++.capnp".namespace("flowps::schema");

struct GraphDef {
  version @0 :UInt32;  # 1
  nodes @1 :List(NodeDef);
  roles @2 :Roles;     # absent in a graph that is not a model (see graph/model_roles.h)
}

# What makes the graph a model. Variable initializers are attributes of the
# Variable nodes ("init", "init_seed", ...: graph/model_roles.h).
struct Roles {
  inputs @0 :List(InputRole);
  loss @1 :TensorRef;          # absent: no loss named
  metrics @2 :List(MetricRole);
  states @3 :List(StateRole);  # recurrent state carried across steps
}

struct StateRole {
  initial @0 :Text;       # a float32 Placeholder [-1, ...]: fed with the previous step's final
  final @1 :TensorRef;
}

struct InputRole {
  node @0 :Text;    # a Placeholder
  column @1 :Text;  # the data column that feeds it
}

struct MetricRole {
  name @0 :Text;
  kind @1 :Text;                 # mean | accuracy | auc
  tensors @2 :List(TensorRef);
}

struct NodeDef {
  name @0 :Text;
  op @1 :Text;
  inputs @2 :List(TensorRef);
  controlInputs @3 :List(Text);
  attrs @4 :List(Attr);
  requestedDevice @5 :Text;  # as the user wrote it, maybe partial: "/device:cpu:1"
}

struct TensorRef {
  node @0 :Text;
  index @1 :UInt32;
}

struct Attr {
  name @0 :Text;
  value :union {
    int @1 :Int64;
    float @2 :Float64;
    bool @3 :Bool;
    text @4 :Text;
    dtype @5 :UInt8;     # flowps::DType
    shape @6 :List(Int64);
    ints @7 :List(Int64);
    tensor @8 :TensorValue;
  }
}

struct TensorValue {
  dtype @0 :UInt8;
  shape @1 :List(Int64);
  chunks @2 :List(Data);  # the little-endian bytes, in order, each chunk < 512 MiB
}
