// JobSpec: one training job, read strictly from YAML (configs/jobs/*.yaml).
// The reference of every key is README.md (Job spec). Every error names the file,
// the line and the key, e.g.
//   configs/jobs/mlp.yaml:9: key 'optimizer.learning_rate' must be positive
// The same spec drives `flowps train` (one process) and `flowps submit`.
// A value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/table_config.h"
#include "core/train_config.h"

namespace flowps {

enum class ModelKind { kSoftmax, kMlp, kCnn, kWideDeep, kLstmLm, kGraphFile };
enum class DataFormat { kIdx, kCsv, kLibsvm, kNpy, kText };

const char* ModelKindName(ModelKind k);          // "softmax", "mlp", "cnn", "wide_deep", "lstm_lm", "graph"
const char* DataFormatName(DataFormat f);        // "idx", "csv", "libsvm", "npy", "text"

struct ModelSpec {
  ModelKind kind = ModelKind::kMlp;
  std::vector<int64_t> hidden = {256};  // mlp, wide_deep: hidden layer widths
  int64_t embedding_dim = 0;            // wide_deep: the dim of the job's table 'deep' (set from tables)
  int64_t seed = 1;                     // initializers
  // lstm_lm only: a character-level language model (worker/lstm_lm.h) over
  // the text format's byte ids, with these shapes and placements.
  int64_t vocab = 256;                  // softmax classes: every token id is below it
  int64_t embedding = 64;               // embedding width
  int64_t layers = 4;                   // stacked LSTM layers
  int64_t hidden_size = 256;            // units per LSTM layer
  int64_t unroll = 0;                   // time steps per example (0: data.sequence_length)
  std::vector<std::string> layer_devices;    // layer d's requested device (empty: none)
  int64_t softmax_parts = 1;                 // the output projection split by columns in this many parts
  std::vector<std::string> softmax_devices;  // part p's requested device (empty: none)
  std::string graph_file;               // graph only: absolute path (resolved against the job file)
  std::string graph_def;                // graph only: the GraphDef bytes when they came with the job (the
                                        // chief ships them to every worker); used instead of graph_file
  // A node that asks for a device its worker lacks runs on the worker's first
  // device instead of failing the job (TensorFlow's allow_soft_placement).
  bool soft_placement = false;
  // With data.contiguous, the worker carries the graph's recurrent state
  // (GraphRoles::states, e.g. lstm_lm's h and c) from one step to the next;
  // false feeds the zero state at every step (for comparison).
  bool carry_state = true;
};

// One placeholder fed from one column of the data.
struct FeedSpec {
  std::string placeholder;
  std::string column;
  std::string where;  // "file:line" of the key, for messages
};

// The data section. With format idx and no train/test, path is the
// directory of Fashion-MNIST-named IDX files; otherwise train (and test)
// name a file, a directory or a glob (absolute once loaded; each names at
// least one file). feeds is empty when the section gives none: the built-in
// models then take x <- features, y <- label.
struct DataSpec {
  DataFormat format = DataFormat::kIdx;
  std::string path;         // idx: directory of the IDX files (absolute once loaded)
  std::string train, test;  // "" when not given (test: no evaluation unless idx path)
  std::string label = "label";     // csv: the label column
  int64_t dense_dim = 0;           // libsvm: > 0 for a dense features column
  int64_t sequence_length = 0;     // text: bytes per example (required)
  int64_t batch_size = 64;  // per worker step
  bool shuffle = true;
  int64_t shuffle_buffer = 10000;  // examples held by the streaming shuffle
  int64_t prefetch_batches = 4;    // batches read ahead of the step
  int64_t seed = 0;
  // Each of a batch's rows is a stream: row b of batch k+1 continues row b of
  // batch k in the data (data::PipelineOptions::contiguous); no shuffling.
  bool contiguous = false;
  std::vector<FeedSpec> feeds;
  std::string where;        // "file:line" of the data section, for messages
};

struct ModeSpec {
  TrainingMode mode = TrainingMode::kAsync;
  int total_workers = 1;
  int replicas_to_aggregate = 1;  // sync: gradients averaged per step
  int backup_workers = 0;         // sync: total_workers - replicas_to_aggregate
  int max_staleness = -1;         // async: -1 for unbounded
  StalenessPolicy staleness_policy = StalenessPolicy::kRefuse;  // async
  bool prefetch = false;          // async: a worker computes step s+1 while the push of step s is in flight
};

struct CheckpointSpec {
  std::string dir;            // "" disables checkpoints
  int64_t every_steps = 0;    // 0: not by steps
  double every_seconds = 0;   // 0: not by time
  int keep = 5;               // newest checkpoints kept
  int table_full_every = 10;  // every K-th checkpoint of the embedding tables is full, the rest incremental
};

struct JobSpec {
  std::string name;
  std::string source;  // the file it came from
  ModelSpec model;
  DataSpec data;
  OptimizerConfig optimizer;
  ModeSpec mode;
  int64_t steps = 0;      // exactly one of steps and epochs is > 0
  double epochs = 0;
  int64_t log_every_steps = 100;
  int64_t eval_every_steps = 0;  // 0: evaluate only at the end
  CheckpointSpec checkpoint;
  std::string run_dir;    // "" for no metrics files
  std::vector<TableConfig> tables;  // the job's embedding tables, in file order
};

// Reads and checks a job file. Relative input paths (data.path,
// model.graph_file) are resolved against the job file's directory and must
// exist; output paths (checkpoint.dir, run_dir) are kept as written.
StatusOr<JobSpec> LoadJobSpec(const std::string& path);
// The same from text; `path` names the file in messages and anchors relative
// paths. With `graph_def` (the bytes of the job's graph file, shipped by the
// chief) model.graph_file need not exist here and model.graph_def holds them.
StatusOr<JobSpec> ParseJobSpec(const std::string& text, const std::string& path, const std::string& graph_def = "");

}  // namespace flowps
