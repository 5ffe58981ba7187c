// The job spec loader on any text (the chief parses the text a submit sends):
// a spec or an error naming the file.
#include <cstdint>
#include <string>

#include "core/job_spec.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = flowps::fuzz::ScratchDir() + "/job.yaml";
  auto job = flowps::ParseJobSpec(std::string(reinterpret_cast<const char*>(data), size), path);
  if (!job.ok() && job.status().message().rfind(path, 0) != 0) __builtin_trap();
  return 0;
}
