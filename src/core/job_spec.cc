#include "core/job_spec.h"

#include <glob.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/yaml_reader.h"

namespace flowps {
namespace {

// The widest hidden layer a job spec may ask for (a 784 x 2^20 float matrix is 3 GiB).
constexpr int64_t kMaxHiddenWidth = int64_t{1} << 20;

namespace fs = std::filesystem;

constexpr const char* kDefaultDataPath = "/usr/share/datasets/fashion-mnist";

// Reads `key` as one of `names` into *out (left as is when absent).
template <typename E>
void ReadEnum(YamlMap& m, const std::string& key, bool required, const std::vector<std::pair<std::string, E>>& names,
              E* out) {
  std::string value;
  if (required) m.Required(key, &value);
  else m.Optional(key, &value);
  if (!m.status().ok() || value.empty()) return;
  std::string choices;
  for (const auto& [n, e] : names) {
    if (n == value) {
      *out = e;
      return;
    }
    choices += (choices.empty() ? "" : " | ") + n;
  }
  m.Fail(key, "is '" + value + "', expected one of " + choices);
}

void RequirePositive(YamlMap& m, const std::string& key, double value) {
  if (m.has(key) && !(value > 0)) m.Fail(key, "must be positive");
}

void RequireNonNegative(YamlMap& m, const std::string& key, double value) {
  if (m.has(key) && value < 0) m.Fail(key, "must not be negative");
}

// Refuses `key` when present: it belongs to another choice.
void RefuseUnless(YamlMap& m, bool allowed, const std::string& key, const std::string& only_for) {
  if (!allowed && m.has(key)) m.Fail(key, "is only valid for " + only_for);
}

std::string ResolveInput(YamlMap& m, const std::string& key, const std::string& value, const fs::path& base,
                         bool directory) {
  if (!m.status().ok()) return value;
  fs::path p = fs::path(value).is_absolute() ? fs::path(value) : base / value;
  std::error_code ec;
  bool ok = directory ? fs::is_directory(p, ec) : fs::is_regular_file(p, ec);
  if (!ok) m.Fail(key, "'" + value + "' is not an existing " + (directory ? "directory" : "file"));
  return p.lexically_normal().string();
}

// The lstm_lm keys (refused for other models).
void ReadLstmLm(YamlMap& m, ModelSpec* model) {
  const bool lm = model->kind == ModelKind::kLstmLm;
  for (const char* key : {"vocab", "embedding", "layers", "hidden_size", "unroll", "layer_devices", "softmax_parts",
                          "softmax_devices"}) {
    RefuseUnless(m, lm, key, "type lstm_lm");
    if (!lm) continue;
    std::string k = key;
    if (k == "layer_devices" || k == "softmax_devices") {
      auto* list = k == "layer_devices" ? &model->layer_devices : &model->softmax_devices;
      m.Optional(k, list);  // each checked when the model is built (ParseDeviceRequest)
      continue;
    }
    int64_t* v = k == "vocab" ? &model->vocab : k == "embedding" ? &model->embedding : k == "layers" ? &model->layers
                 : k == "hidden_size" ? &model->hidden_size : k == "unroll" ? &model->unroll : &model->softmax_parts;
    m.Optional(k, v);
    if (m.status().ok() && m.has(k) && (*v <= 0 || *v > kMaxHiddenWidth))
      m.Fail(k, "must be in [1, " + std::to_string(kMaxHiddenWidth) + "]");
  }
  if (!lm || !m.status().ok()) return;
  if (!model->softmax_devices.empty()) {
    const auto parts = static_cast<int64_t>(model->softmax_devices.size());
    if (m.has("softmax_parts") && model->softmax_parts != parts)
      m.Fail("softmax_parts", "is " + std::to_string(model->softmax_parts) + " but softmax_devices names " +
                                  std::to_string(parts) + " devices");
    model->softmax_parts = parts;
  }
  if (m.status().ok() && !model->layer_devices.empty() &&
      static_cast<int64_t>(model->layer_devices.size()) != model->layers)
    m.Fail("layer_devices", "names " + std::to_string(model->layer_devices.size()) + " devices for " +
                                std::to_string(model->layers) + " layers");
  if (m.status().ok() && model->softmax_parts > model->vocab)
    m.Fail("softmax_parts", "must be at most vocab (" + std::to_string(model->vocab) + ")");
}

// lstm_lm: its unroll is the text format's sequence length (taken from it
// when not given).
Status MatchUnroll(YamlMap m, JobSpec* job) {
  const int64_t length = job->data.format == DataFormat::kText ? job->data.sequence_length : 0;
  if (job->model.unroll == 0 && length == 0) m.Fail("unroll", "is required unless data.format is text");
  if (job->model.unroll == 0) job->model.unroll = length;
  if (m.status().ok() && length > 0 && job->model.unroll != length)
    m.Fail("unroll", "is " + std::to_string(job->model.unroll) + " but data.sequence_length is " +
                         std::to_string(length) + " (one example is one unrolled sequence)");
  return m.status();
}

Status ReadModel(YamlMap m, const fs::path& base, const std::string& graph_def, ModelSpec* model) {
  if (m.has("graph_file")) {
    RefuseUnless(m, false, "type", "built-in models (the model is given by graph_file)");
    model->kind = ModelKind::kGraphFile;
    m.Required("graph_file", &model->graph_file);
    if (graph_def.empty()) {
      model->graph_file = ResolveInput(m, "graph_file", model->graph_file, base, false);
    } else {  // shipped with the job: the file need not exist here
      fs::path p = fs::path(model->graph_file).is_absolute() ? fs::path(model->graph_file) : base / model->graph_file;
      model->graph_file = p.lexically_normal().string();
      model->graph_def = graph_def;
    }
  } else {
    ReadEnum<ModelKind>(m, "type", true,
                        {{"softmax", ModelKind::kSoftmax},
                         {"mlp", ModelKind::kMlp},
                         {"cnn", ModelKind::kCnn},
                         {"wide_deep", ModelKind::kWideDeep},
                         {"lstm_lm", ModelKind::kLstmLm}},
                        &model->kind);
  }
  ReadLstmLm(m, model);
  RefuseUnless(m, model->kind == ModelKind::kMlp || model->kind == ModelKind::kWideDeep, "hidden",
               "types mlp and wide_deep");
  m.Optional("hidden", &model->hidden);
  if (m.status().ok() && model->hidden.empty()) m.Fail("hidden", "must list at least one layer width");
  for (int64_t h : model->hidden)
    if (m.status().ok() && (h <= 0 || h > kMaxHiddenWidth))
      m.Fail("hidden", "layer width " + std::to_string(h) +
                           (h <= 0 ? " must be positive" : " must be at most " + std::to_string(kMaxHiddenWidth)));
  m.Optional("seed", &model->seed);
  m.Optional("soft_placement", &model->soft_placement);
  m.Optional("carry_state", &model->carry_state);
  return m.Finish();
}

// A file, a directory or a glob that names at least one existing path.
std::string ResolvePattern(YamlMap& m, const std::string& key, const std::string& value, const fs::path& base) {
  if (!m.status().ok()) return value;
  std::string p = (fs::path(value).is_absolute() ? fs::path(value) : base / value).lexically_normal().string();
  std::error_code ec;
  bool found = false;
  if (p.find_first_of("*?[") != std::string::npos) {
    glob_t g{};
    found = ::glob(p.c_str(), 0, nullptr, &g) == 0 && g.gl_pathc > 0;
    ::globfree(&g);
  } else {
    found = fs::exists(p, ec);
  }
  if (!found) m.Fail(key, "'" + value + "' names no existing file or directory");
  return p;
}

void ReadFeeds(YamlMap& m, DataSpec* data) {
  YAML::Node feeds = m.Raw("feeds");
  if (!feeds.IsDefined() || !m.status().ok()) return;
  if (!feeds.IsMap()) return m.Fail("feeds", "must map placeholders to columns, e.g. {x: features, y: label}");
  for (auto it = feeds.begin(); it != feeds.end(); ++it) {
    if (!it->second.IsScalar() || it->second.Scalar().empty())
      return m.Fail("feeds", "placeholder '" + it->first.Scalar() + "' must name one column");
    data->feeds.push_back({it->first.Scalar(), it->second.Scalar(), m.Where(it->first)});
  }
}

Status ReadData(YamlMap m, const fs::path& base, DataSpec* data) {
  data->where = m.Where(m.node());
  ReadEnum<DataFormat>(m, "format", false,
                       {{"idx", DataFormat::kIdx},
                        {"csv", DataFormat::kCsv},
                        {"libsvm", DataFormat::kLibsvm},
                        {"npy", DataFormat::kNpy},
                        {"text", DataFormat::kText}},
                       &data->format);
  const bool idx = data->format == DataFormat::kIdx;
  RefuseUnless(m, idx, "path", "format idx (other formats name their files with train and test)");
  RefuseUnless(m, data->format == DataFormat::kCsv, "label", "format csv");
  RefuseUnless(m, data->format == DataFormat::kLibsvm, "dense_dim", "format libsvm");
  RefuseUnless(m, data->format == DataFormat::kText, "sequence_length", "format text");
  if (m.status().ok() && idx && m.has("path") && (m.has("train") || m.has("test")))
    m.Fail("path", "and train/test both name the data: give one of them");
  if (idx && !m.has("train")) {
    data->path = kDefaultDataPath;
    m.Optional("path", &data->path);
    data->path = ResolveInput(m, "path", data->path, base, true);
  } else {
    m.Required("train", &data->train);
    data->train = ResolvePattern(m, "train", data->train, base);
  }
  m.Optional("test", &data->test);
  if (m.has("test")) data->test = ResolvePattern(m, "test", data->test, base);
  m.Optional("label", &data->label);
  m.Optional("dense_dim", &data->dense_dim);
  RequirePositive(m, "dense_dim", static_cast<double>(data->dense_dim));
  if (data->format == DataFormat::kText) m.Required("sequence_length", &data->sequence_length);
  RequirePositive(m, "sequence_length", static_cast<double>(data->sequence_length));
  m.Optional("batch_size", &data->batch_size);
  RequirePositive(m, "batch_size", static_cast<double>(data->batch_size));
  m.Optional("shuffle", &data->shuffle);
  m.Optional("contiguous", &data->contiguous);
  if (data->contiguous && m.has("shuffle") && data->shuffle)
    m.Fail("contiguous", "cannot be combined with data.shuffle: true (each row of a batch continues the text of the "
                         "row before it; shuffling would cut the streams): drop one of them");
  if (data->contiguous) data->shuffle = false;
  m.Optional("shuffle_buffer", &data->shuffle_buffer);
  RequirePositive(m, "shuffle_buffer", static_cast<double>(data->shuffle_buffer));
  m.Optional("prefetch_batches", &data->prefetch_batches);
  RequirePositive(m, "prefetch_batches", static_cast<double>(data->prefetch_batches));
  m.Optional("seed", &data->seed);
  RequireNonNegative(m, "seed", static_cast<double>(data->seed));
  ReadFeeds(m, data);
  return m.Finish();
}

Status ReadOptimizer(YamlMap m, OptimizerConfig* opt) {
  ReadEnum<OptimizerKind>(m, "type", true,
                          {{"sgd", OptimizerKind::kSgd},
                           {"momentum", OptimizerKind::kMomentum},
                           {"adagrad", OptimizerKind::kAdagrad},
                           {"adam", OptimizerKind::kAdam},
                           {"ftrl", OptimizerKind::kFtrl}},
                          &opt->kind);
  if (!m.status().ok()) return m.status();
  m.Required("learning_rate", &opt->learning_rate);
  RequirePositive(m, "learning_rate", opt->learning_rate);
  bool momentum = opt->kind == OptimizerKind::kMomentum, adagrad = opt->kind == OptimizerKind::kAdagrad,
       adam = opt->kind == OptimizerKind::kAdam, ftrl = opt->kind == OptimizerKind::kFtrl;
  RefuseUnless(m, momentum, "momentum", "type momentum");
  RefuseUnless(m, momentum, "nesterov", "type momentum");
  RefuseUnless(m, adagrad || ftrl, "initial_accumulator", "types adagrad and ftrl");
  RefuseUnless(m, ftrl, "l1", "type ftrl");
  RefuseUnless(m, ftrl, "l2", "type ftrl");
  RefuseUnless(m, adam, "beta1", "type adam");
  RefuseUnless(m, adam, "beta2", "type adam");
  RefuseUnless(m, adam || adagrad, "epsilon", "types adagrad and adam");
  m.Optional("momentum", &opt->momentum).Optional("nesterov", &opt->nesterov);
  if (m.has("momentum") && !(opt->momentum >= 0 && opt->momentum < 1)) m.Fail("momentum", "must be in [0, 1)");
  m.Optional("initial_accumulator", &opt->initial_accumulator);
  RequirePositive(m, "initial_accumulator", opt->initial_accumulator);
  m.Optional("beta1", &opt->beta1).Optional("beta2", &opt->beta2);
  for (const char* k : {"beta1", "beta2"}) {
    double v = std::string(k) == "beta1" ? opt->beta1 : opt->beta2;
    if (m.has(k) && !(v >= 0 && v < 1)) m.Fail(k, "must be in [0, 1)");
  }
  m.Optional("epsilon", &opt->epsilon);
  RequirePositive(m, "epsilon", opt->epsilon);
  m.Optional("clip_norm", &opt->clip_norm);
  RequirePositive(m, "clip_norm", opt->clip_norm);
  if (m.status().ok() && !std::isfinite(opt->clip_norm)) m.Fail("clip_norm", "must be finite");
  m.Optional("l1", &opt->l1).Optional("l2", &opt->l2);
  RequireNonNegative(m, "l1", opt->l1);
  RequireNonNegative(m, "l2", opt->l2);
  return m.Finish();
}

Status ReadMode(YamlMap m, ModeSpec* mode) {
  ReadEnum<TrainingMode>(m, "type", true, {{"sync", TrainingMode::kSync}, {"async", TrainingMode::kAsync}},
                         &mode->mode);
  if (!m.status().ok()) return m.status();
  bool sync = mode->mode == TrainingMode::kSync;
  RefuseUnless(m, sync, "replicas_to_aggregate", "type sync");
  RefuseUnless(m, sync, "backup_workers", "type sync");
  RefuseUnless(m, !sync, "max_staleness", "type async");
  RefuseUnless(m, !sync, "staleness_policy", "type async");
  RefuseUnless(m, !sync, "prefetch", "type async");
  m.Optional("total_workers", &mode->total_workers);
  RequirePositive(m, "total_workers", mode->total_workers);
  if (sync) {
    m.Optional("backup_workers", &mode->backup_workers);
    RequireNonNegative(m, "backup_workers", mode->backup_workers);
    mode->replicas_to_aggregate = mode->total_workers - mode->backup_workers;
    int given = mode->replicas_to_aggregate;
    m.Optional("replicas_to_aggregate", &given);
    RequirePositive(m, "replicas_to_aggregate", given);
    if (m.status().ok() && mode->replicas_to_aggregate <= 0)
      m.Fail("backup_workers", "leaves no worker to aggregate (total_workers " + std::to_string(mode->total_workers) + ")");
    if (m.status().ok() && given != mode->replicas_to_aggregate)
      m.Fail("replicas_to_aggregate", "is " + std::to_string(given) + " but total_workers " +
                                          std::to_string(mode->total_workers) + " - backup_workers " +
                                          std::to_string(mode->backup_workers) + " is " +
                                          std::to_string(mode->replicas_to_aggregate));
  } else {
    mode->replicas_to_aggregate = 1;
    m.Optional("max_staleness", &mode->max_staleness);
    RequireNonNegative(m, "max_staleness", mode->max_staleness);
    std::string policy = "refuse";
    m.Optional("staleness_policy", &policy);
    if (m.status().ok() && policy != "refuse" && policy != "wait")
      m.Fail("staleness_policy", "must be refuse or wait, got '" + policy + "'");
    mode->staleness_policy = policy == "wait" ? StalenessPolicy::kWait : StalenessPolicy::kRefuse;
    m.Optional("prefetch", &mode->prefetch);
  }
  return m.Finish();
}

Status ReadTrain(YamlMap m, JobSpec* job) {
  m.Optional("steps", &job->steps).Optional("epochs", &job->epochs);
  RequirePositive(m, "steps", static_cast<double>(job->steps));
  RequirePositive(m, "epochs", job->epochs);
  if (m.status().ok() && m.has("steps") == m.has("epochs"))
    m.Fail("", "must give exactly one of 'steps' and 'epochs'");
  m.Optional("log_every_steps", &job->log_every_steps);
  RequirePositive(m, "log_every_steps", static_cast<double>(job->log_every_steps));
  m.Optional("eval_every_steps", &job->eval_every_steps);
  RequireNonNegative(m, "eval_every_steps", static_cast<double>(job->eval_every_steps));
  return m.Finish();
}

Status ReadTableInit(YamlMap m, TableInitConfig* init) {
  m.Required("type", &init->kind);
  const std::vector<std::string> kinds = {"zeros", "constant", "uniform", "normal", "truncated_normal"};
  if (m.status().ok() && std::find(kinds.begin(), kinds.end(), init->kind) == kinds.end())
    m.Fail("type", "is '" + init->kind + "', expected one of zeros | constant | uniform | normal | truncated_normal");
  m.Optional("value", &init->value).Optional("min", &init->min).Optional("max", &init->max);
  m.Optional("mean", &init->mean).Optional("stddev", &init->stddev);
  int64_t seed = 0;
  m.Optional("seed", &seed);
  RequireNonNegative(m, "seed", static_cast<double>(seed));
  init->seed = static_cast<uint64_t>(seed);
  RequirePositive(m, "stddev", init->stddev);
  if (m.status().ok() && init->min > init->max) m.Fail("min", "must not exceed max");
  return m.Finish();
}

// One table of the `tables` section (its name is the key).
Status ReadTable(YamlMap m, TableConfig* table) {
  table->where = m.Where(m.node());
  m.Required("dim", &table->dim);
  if (m.status().ok() && (table->dim < 1 || table->dim > 65536)) m.Fail("dim", "must be in [1, 65536]");
  if (m.has("initializer")) FLOWPS_RETURN_IF_ERROR(ReadTableInit(m.Child("initializer", true), &table->initializer));
  FLOWPS_RETURN_IF_ERROR(ReadOptimizer(m.Child("optimizer", true), &table->optimizer));
  if (m.status().ok() && table->optimizer.kind == OptimizerKind::kMomentum)
    m.Fail("optimizer.type", "must be sgd, adagrad, adam or ftrl for a table (not momentum)");
  m.Optional("min_count", &table->min_count).Optional("ttl_steps", &table->ttl_steps);
  m.Optional("max_rows", &table->max_rows).Optional("hot_window_steps", &table->hot_window_steps);
  RequirePositive(m, "min_count", static_cast<double>(table->min_count));
  RequireNonNegative(m, "ttl_steps", static_cast<double>(table->ttl_steps));
  RequireNonNegative(m, "max_rows", static_cast<double>(table->max_rows));
  RequirePositive(m, "hot_window_steps", static_cast<double>(table->hot_window_steps));
  return m.Finish();
}

Status ReadTables(YamlMap& root, std::vector<TableConfig>* tables) {
  YAML::Node node = root.Raw("tables");
  if (!node.IsDefined() || !root.status().ok()) return root.status();
  if (!node.IsMap()) return root.Error("tables", "must map table names to tables, e.g. {deep: {dim: 8, optimizer: ...}}");
  for (auto it = node.begin(); it != node.end(); ++it) {
    TableConfig t;
    t.name = it->first.Scalar();
    if (t.name.empty()) return root.Error("tables", "a table's name is empty");
    FLOWPS_RETURN_IF_ERROR(ReadTable(YamlMap(root.file(), it->second, root.FullKey("tables." + t.name)), &t));
    tables->push_back(std::move(t));
  }
  return Status::OK();
}

// A wide_deep model looks up the tables 'wide' (dim 1) and 'deep'.
Status CheckWideDeepTables(YamlMap& root, JobSpec* job) {
  const TableConfig *wide = nullptr, *deep = nullptr;
  for (const TableConfig& t : job->tables) {
    if (t.name == "wide") wide = &t;
    if (t.name == "deep") deep = &t;
  }
  if (wide == nullptr || deep == nullptr)
    return root.Error("tables", "model type wide_deep needs the tables 'wide' (dim 1) and 'deep'");
  if (wide->dim != 1) return root.Error("tables.wide.dim", "must be 1 for model type wide_deep");
  job->model.embedding_dim = deep->dim;
  return Status::OK();
}

Status ReadCheckpoint(YamlMap m, CheckpointSpec* ckpt) {
  m.Required("dir", &ckpt->dir);
  m.Optional("every_steps", &ckpt->every_steps).Optional("every_seconds", &ckpt->every_seconds);
  RequireNonNegative(m, "every_steps", static_cast<double>(ckpt->every_steps));
  RequireNonNegative(m, "every_seconds", ckpt->every_seconds);
  m.Optional("keep", &ckpt->keep);
  RequirePositive(m, "keep", ckpt->keep);
  m.Optional("table_full_every", &ckpt->table_full_every);
  RequirePositive(m, "table_full_every", ckpt->table_full_every);
  if (m.status().ok() && ckpt->every_steps == 0 && ckpt->every_seconds == 0)
    m.Fail("", "needs 'every_steps' or 'every_seconds'");
  return m.Finish();
}

}  // namespace

const char* ModelKindName(ModelKind k) {
  switch (k) {
    case ModelKind::kSoftmax: return "softmax";
    case ModelKind::kMlp: return "mlp";
    case ModelKind::kCnn: return "cnn";
    case ModelKind::kWideDeep: return "wide_deep";
    case ModelKind::kLstmLm: return "lstm_lm";
    case ModelKind::kGraphFile: return "graph";
  }
  return "?";
}

const char* DataFormatName(DataFormat f) {
  switch (f) {
    case DataFormat::kIdx: return "idx";
    case DataFormat::kCsv: return "csv";
    case DataFormat::kLibsvm: return "libsvm";
    case DataFormat::kNpy: return "npy";
    case DataFormat::kText: return "text";
  }
  return "?";
}

namespace {

StatusOr<JobSpec> JobSpecFromYaml(const YAML::Node& doc, const std::string& path, const std::string& graph_def) {
  fs::path base = fs::path(path).parent_path();
  if (base.empty()) base = ".";
  JobSpec job;
  job.source = path;
  YamlMap root(path, doc, "");
  root.Required("name", &job.name);
  if (root.status().ok() && job.name.empty()) root.Fail("name", "must not be empty");
  FLOWPS_RETURN_IF_ERROR(root.status());
  FLOWPS_RETURN_IF_ERROR(ReadModel(root.Child("model", true), base, graph_def, &job.model));
  FLOWPS_RETURN_IF_ERROR(ReadData(root.Child("data", false), base, &job.data));
  if (job.model.kind == ModelKind::kLstmLm) FLOWPS_RETURN_IF_ERROR(MatchUnroll(root.Child("model", true), &job));
  FLOWPS_RETURN_IF_ERROR(ReadOptimizer(root.Child("optimizer", true), &job.optimizer));
  FLOWPS_RETURN_IF_ERROR(ReadMode(root.Child("mode", true), &job.mode));
  FLOWPS_RETURN_IF_ERROR(ReadTrain(root.Child("train", true), &job));
  if (root.has("checkpoint")) FLOWPS_RETURN_IF_ERROR(ReadCheckpoint(root.Child("checkpoint", true), &job.checkpoint));
  root.Optional("run_dir", &job.run_dir);
  FLOWPS_RETURN_IF_ERROR(ReadTables(root, &job.tables));
  if (job.model.kind == ModelKind::kWideDeep) FLOWPS_RETURN_IF_ERROR(CheckWideDeepTables(root, &job));
  return root.Finish().ok() ? StatusOr<JobSpec>(std::move(job)) : StatusOr<JobSpec>(root.status());
}

}  // namespace

StatusOr<JobSpec> ParseJobSpec(const std::string& text, const std::string& path, const std::string& graph_def) {
  FLOWPS_ASSIGN_OR_RETURN(YAML::Node doc, ParseYaml(text, path));
  return JobSpecFromYaml(doc, path, graph_def);
}

StatusOr<JobSpec> LoadJobSpec(const std::string& path) {
  FLOWPS_ASSIGN_OR_RETURN(YAML::Node doc, LoadYamlFile(path));
  return JobSpecFromYaml(doc, path, "");
}

}  // namespace flowps
