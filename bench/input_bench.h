// `flowps bench input`: the input pipeline's speed per format.
//
// Writes the first `examples` Fashion-MNIST training examples (default
// 20000) as idx (plain), csv, libsvm (the non-zero pixels) and npy into a
// temporary directory, plus a text corpus (the csv file read as text,
// sequence length 256). For each format it then reads the same files' bytes
// as `cat` does (read(2) in 1 MiB blocks, page cache warm; the raw
// baseline) and drains one epoch of a data::Pipeline over them (parse,
// shuffle buffer of 10000, batches of 64). It reports records/s and MB/s of
// file bytes for each, beside the raw MB/s and beside the examples/s the MLP
// 784-256-10 step consumes at batch 64, measured in the same run; and the
// same rates per CPU second of the process (load-independent costs).
// Options (--opt key=value): examples (default 20000), formats (default
// idx,csv,libsvm,npy,text), dir (default the system temp directory).
#pragma once

#include "bench/benchmark.h"

namespace flowps {

Benchmark MakeInputBenchmark();

}  // namespace flowps
