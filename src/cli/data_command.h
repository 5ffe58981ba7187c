// `flowps data`: tools for the input formats.
//   flowps data convert --from F --input PATH --to T --output PATH [--limit N]
//       [--label NAME] [--dense-dim N] [--sequence-length N]
//     copies examples between idx, csv, libsvm and npy (idx and text are
//     read, not written); prints the count.
//   flowps data synth-ctr --examples N --ids M --zipf S --fields F --seed S
//       --out DIR [--test-fraction 0.1]
//     writes a synthetic click log as DIR/train.libsvm and DIR/test.libsvm and
//     prints the AUC of the hidden model on the test split (the ceiling).
// Exit code 0, 1 when reading or writing failed (the message names the file
// and line), 2 for a bad flag.
#pragma once

namespace CLI {
class App;
}  // namespace CLI

namespace flowps {

void AddDataCommand(CLI::App& app, int* exit_code);

}  // namespace flowps
