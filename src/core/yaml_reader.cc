#include "core/yaml_reader.h"

#include <filesystem>
#include <fstream>
#include <map>

namespace flowps {

StatusOr<YAML::Node> ParseYaml(const std::string& text, const std::string& path) {
  if (text.size() > kMaxSpecBytes)
    return InvalidArgument(path + ": the spec is " + std::to_string(text.size()) + " bytes; a spec may have at most " +
                           std::to_string(kMaxSpecBytes) + " bytes");
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ": YAML syntax error: " + e.msg);
  }
}

StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes, const std::string& what) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    return InvalidArgument(path + ": " + what + " is not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open " + what);
  std::string text(max_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > max_bytes)
    return InvalidArgument(path + ": " + what + " has more than " + std::to_string(max_bytes) +
                           " bytes, the most it may have");
  return text;
}

StatusOr<YAML::Node> LoadYamlFile(const std::string& path) {
  FLOWPS_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, kMaxSpecBytes, "the spec"));
  return ParseYaml(text, path);
}

YamlMap::YamlMap(std::string file, YAML::Node node, std::string key_path)
    : file_(std::move(file)), node_(std::move(node)), key_path_(std::move(key_path)) {
  if (!node_.IsMap()) {
    if (node_.IsNull() || !node_.IsDefined())
      status_ = InvalidArgument(file_ + ": " +
                                (key_path_.empty() ? std::string("the document is empty")
                                                   : "key '" + key_path_ + "' is empty"));
    else
      status_ = InvalidArgument(Where(node_) + ": " +
                                (key_path_.empty() ? std::string("the document") : "key '" + key_path_ + "'") +
                                " must be a mapping");
    return;
  }
  // A key given twice: yaml-cpp keeps both and [] finds the first, so the
  // second would be ignored without a word.
  std::map<std::string, YAML::Node> seen;
  for (auto it = node_.begin(); it != node_.end() && status_.ok(); ++it) {
    if (!it->first.IsScalar()) continue;
    auto [first, inserted] = seen.emplace(it->first.Scalar(), it->first);
    if (!inserted)
      status_ = InvalidArgument(Where(it->first) + ": key '" + FullKey(it->first.Scalar()) +
                                "' is given twice (first at line " + std::to_string(first->second.Mark().line + 1) +
                                ")");
  }
}

std::string YamlMap::Where(const YAML::Node& n) const {
  if (!n.IsDefined() || n.Mark().line < 0) return file_;
  return file_ + ":" + std::to_string(n.Mark().line + 1);
}

std::string YamlMap::FullKey(const std::string& key) const {
  if (key.empty()) return key_path_;
  return key_path_.empty() ? key : key_path_ + "." + key;
}

Status YamlMap::Error(const std::string& key, const std::string& message) const {
  YAML::Node at = node_;
  if (!key.empty() && node_.IsMap()) {
    // Point at the key itself when present, else at this mapping.
    for (auto it = node_.begin(); it != node_.end(); ++it)
      if (it->first.IsScalar() && it->first.Scalar() == key) at.reset(it->first);  // rebind; = would assign
  }
  std::string k = FullKey(key);
  return InvalidArgument(Where(at) + ": " + (k.empty() ? "" : "key '" + k + "' ") + message);
}

void YamlMap::Fail(const std::string& key, const std::string& message) {
  if (status_.ok()) status_ = Error(key, message);
}

YamlMap YamlMap::Child(const std::string& key, bool required) {
  read_.insert(key);
  YAML::Node n = Get(key);
  if (status_.ok() && n.IsDefined() && !n.IsNull()) return YamlMap(file_, n, FullKey(key));
  // Absent (or this map already failed): an empty child that carries this map's
  // error, so that reading it reports the first error, never a later one.
  if (required) Fail(key, "is required");
  YamlMap empty(file_, YAML::Node(YAML::NodeType::Map), FullKey(key));
  empty.status_ = status_;
  return empty;
}

YAML::Node YamlMap::Raw(const std::string& key) {
  read_.insert(key);
  return Get(key);
}

Status YamlMap::Finish() {
  if (!status_.ok()) return status_;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    std::string k = it->first.Scalar();
    if (!read_.count(k)) {
      status_ = InvalidArgument(Where(it->first) + ": unknown key '" + FullKey(k) + "'");
      break;
    }
  }
  return status_;
}

}  // namespace flowps
