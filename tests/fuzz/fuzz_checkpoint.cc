// Reading a checkpoint shard file (ps/checkpoint) of any content. The first
// byte chooses: odd, the rest is written as it is; even, the rest is a
// payload given a valid trailer (length, CRC, end marker), so that the fuzzer
// reaches the records behind the checksum.
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include "fuzz_util.h"
#include "ps/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string file(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    const uint64_t length = file.size();
    const uint32_t crc = static_cast<uint32_t>(
        crc32_z(crc32_z(0, nullptr, 0), reinterpret_cast<const Bytef*>(file.data()), file.size()));
    file.append(reinterpret_cast<const char*>(&length), sizeof length);
    file.append(reinterpret_cast<const char*>(&crc), sizeof crc);
    file.append("FLOWPSND", 8);
  }
  static const std::string path = flowps::fuzz::ScratchDir() + "/shard-0.ckpt";
  std::ofstream(path, std::ios::binary | std::ios::trunc) << file;
  auto snapshot = flowps::ps::ReadShardCheckpoint(path, 0, 1);
  (void)snapshot;
  return 0;
}
