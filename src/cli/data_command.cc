#include "cli/data_command.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <memory>

#include "data/data_source.h"
#include "data/example_writer.h"
#include "data/synth_ctr.h"

namespace flowps {
namespace {

const std::map<std::string, DataFormat> kFormats = {{"idx", DataFormat::kIdx},
                                                    {"csv", DataFormat::kCsv},
                                                    {"libsvm", DataFormat::kLibsvm},
                                                    {"npy", DataFormat::kNpy},
                                                    {"text", DataFormat::kText}};

struct ConvertArgs {
  std::string from, to, input, output, label = "label";
  int64_t dense_dim = 0, sequence_length = 0, limit = 0;
};

int RunConvert(const ConvertArgs& a) {
  data::SourceOptions options;
  options.format = kFormats.at(a.from);
  options.label = a.label;
  options.dense_dim = a.dense_dim;
  options.sequence_length = a.sequence_length;
  auto source = data::DataSource::Open(options, a.input);
  if (!source.ok()) {
    std::cerr << "flowps data convert: " << source.status().message() << "\n";
    return 1;
  }
  auto writer = data::OpenWriter(kFormats.at(a.to), a.output, source->schema());
  if (!writer.ok()) {
    std::cerr << "flowps data convert: " << writer.status().message() << "\n";
    return 2;
  }
  auto n = data::CopyExamples(*source, writer->get(), a.limit);
  if (!n.ok()) {
    std::cerr << "flowps data convert: " << n.status().message() << "\n";
    return 1;
  }
  std::cout << "flowps data convert: wrote " << *n << " examples (" << data::DescribeSchema(source->schema())
            << ") to " << a.output << " as " << a.to << "\n";
  return 0;
}

int RunSynthCtr(const data::SynthCtrOptions& o, const std::string& out) {
  auto r = data::WriteSynthCtr(o, out);
  if (!r.ok()) {
    std::cerr << "flowps data synth-ctr: " << r.status().message() << "\n";
    return 1;
  }
  char clicks[32], auc[32];
  std::snprintf(clicks, sizeof clicks, "%.1f%%", 100 * r->test_positive_rate);
  std::snprintf(auc, sizeof auc, "%.4f", r->hidden_model_test_auc);
  std::cout << "flowps data synth-ctr: " << r->train_examples << " train examples in " << r->train_path << ", "
            << r->test_examples << " test examples in " << r->test_path << " (" << clicks << " clicks)\n"
            << "flowps data synth-ctr: hidden model AUC on the test split (the ceiling): " << auc << "\n";
  return 0;
}

}  // namespace

void AddDataCommand(CLI::App& app, int* exit_code) {
  CLI::App* data = app.add_subcommand("data", "convert input files; make a synthetic click log");
  data->require_subcommand(1);

  auto c = std::make_shared<ConvertArgs>();
  CLI::App* convert = data->add_subcommand("convert", "copy examples between idx, csv, libsvm and npy");
  auto formats = CLI::IsMember({"idx", "csv", "libsvm", "npy", "text"});
  convert->add_option("--from", c->from, "input format: idx, csv, libsvm, npy or text")->required()->check(formats);
  convert->add_option("--input", c->input, "a file, a directory or a glob")->required();
  convert->add_option("--to", c->to, "output format: csv, libsvm or npy")->required()->check(CLI::IsMember({"csv", "libsvm", "npy"}));
  convert->add_option("--output", c->output, "a file (.gz: compressed), or a directory for npy")->required();
  convert->add_option("--label", c->label, "csv input: the label column");
  convert->add_option("--dense-dim", c->dense_dim, "libsvm input: read a dense features column of this size")
      ->check(CLI::NonNegativeNumber);
  convert->add_option("--sequence-length", c->sequence_length, "text input: bytes per example")->check(CLI::NonNegativeNumber);
  convert->add_option("--limit", c->limit, "copy at most this many examples (0: all)")->check(CLI::NonNegativeNumber);
  convert->callback([c, exit_code] { *exit_code = RunConvert(*c); });

  auto s = std::make_shared<data::SynthCtrOptions>();
  auto out = std::make_shared<std::string>();
  CLI::App* synth = data->add_subcommand("synth-ctr", "write a synthetic click log (libsvm) with a known best AUC");
  synth->add_option("--examples", s->examples, "examples, train and test together")->check(CLI::Range(int64_t{2}, int64_t{1} << 40));
  synth->add_option("--ids", s->ids, "distinct feature ids over all fields")->check(CLI::PositiveNumber);
  synth->add_option("--zipf", s->zipf, "the exponent of the ids' Zipf distribution")->check(CLI::PositiveNumber);
  synth->add_option("--fields", s->fields, "features per example, one per field")->check(CLI::PositiveNumber);
  synth->add_option("--seed", s->seed, "the seed of the ids, the hidden model and the labels");
  synth->add_option("--test-fraction", s->test_fraction, "the share of examples in the test split")->check(CLI::Range(0.0, 1.0));
  synth->add_option("--out", *out, "the directory of train.libsvm and test.libsvm")->required();
  synth->callback([s, out, exit_code] { *exit_code = RunSynthCtr(*s, *out); });
}

}  // namespace flowps
