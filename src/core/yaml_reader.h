// YamlReader: strict reading of YAML specs (cluster spec, job spec).
//
// Every error names the file, the line and the key, e.g.
//   configs/local.yaml:7: key 'jobs.ps.tasks[1]': port 70000 is out of range
// Unknown keys are errors too (a typo must not be silently ignored).
#pragma once

#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/status.h"

namespace flowps {

// The largest spec (cluster or job) read or parsed: 1 MiB. A bigger one is
// refused before parsing (a spec is a few KiB; yaml-cpp needs about 60 bytes
// of memory per byte of input).
constexpr size_t kMaxSpecBytes = size_t{1} << 20;

// Reads a regular file of at most `max_bytes`; anything else (a device, a
// FIFO, a bigger file) is refused without reading more than max_bytes + 1
// bytes. `what` names the file in messages ("the cluster spec").
StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes, const std::string& what);

// Parses a YAML file; the error names the file and the line of a syntax error.
StatusOr<YAML::Node> LoadYamlFile(const std::string& path);
// Parses YAML text of at most kMaxSpecBytes; `path` is only used in messages.
StatusOr<YAML::Node> ParseYaml(const std::string& text, const std::string& path);

// Reads one mapping. A key given twice is refused (file:line of the second,
// naming the first). Keys are read with Required/Optional; Finish() then
// refuses any key that was not read. The first error sticks: later calls do
// nothing, and status()/Finish() return it.
class YamlMap {
 public:
  // `key_path` names this mapping in messages ("" for the document root).
  YamlMap(std::string file, YAML::Node node, std::string key_path);

  bool has(const std::string& key) const { return Get(key).IsDefined(); }
  // Looks a key up without inserting it (yaml-cpp's non-const [] inserts).
  // Undefined when absent or when this is not a mapping (yaml-cpp's [] throws
  // on a scalar, e.g. a section written as `data: 5`).
  YAML::Node Get(const std::string& key) const {
    if (!node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node& c = node_;
    return c[key];
  }

  // Reads a scalar (string, bool, int64_t, int, double) or a list of scalars.
  template <typename T> YamlMap& Required(const std::string& key, T* out);
  template <typename T> YamlMap& Optional(const std::string& key, T* out);  // leaves *out if absent
  // A nested mapping; its errors carry the nested key path.
  YamlMap Child(const std::string& key, bool required);
  // The raw node of a key (for lists of mappings); marks the key as read.
  YAML::Node Raw(const std::string& key);

  // An error at `key` (or at this mapping when key is "").
  Status Error(const std::string& key, const std::string& message) const;
  // Records an error at `key` unless one is recorded already.
  void Fail(const std::string& key, const std::string& message);

  Status Finish();
  const Status& status() const { return status_; }
  const std::string& file() const { return file_; }
  const std::string& key_path() const { return key_path_; }
  const YAML::Node& node() const { return node_; }
  // "file:line" of a node (line is 1-based).
  std::string Where(const YAML::Node& n) const;
  std::string FullKey(const std::string& key) const;

 private:
  template <typename T> bool Convert(const std::string& key, const YAML::Node& n, T* out);
  std::string file_;
  YAML::Node node_;
  std::string key_path_;
  std::set<std::string> read_;
  Status status_;
};

template <typename T>
bool YamlMap::Convert(const std::string& key, const YAML::Node& n, T* out) {
  try {
    *out = n.as<T>();
    return true;
  } catch (const YAML::Exception&) {
    Fail(key, "has the wrong type");
    return false;
  }
}

template <typename T>
YamlMap& YamlMap::Required(const std::string& key, T* out) {
  if (!status_.ok()) return *this;
  read_.insert(key);
  YAML::Node n = Get(key);
  if (!n.IsDefined() || n.IsNull()) {
    Fail(key, "is required");
    return *this;
  }
  Convert(key, n, out);
  return *this;
}

template <typename T>
YamlMap& YamlMap::Optional(const std::string& key, T* out) {
  if (!status_.ok()) return *this;
  read_.insert(key);
  YAML::Node n = Get(key);
  if (!n.IsDefined() || n.IsNull()) return *this;
  Convert(key, n, out);
  return *this;
}

}  // namespace flowps
