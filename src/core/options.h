// Options of one command, declared once and read from two places:
//   1. the command line:           styleseg generate --count 64 --seed 1
//   2. the job file (--job F.ini): [generate]  count = 64   (a section per command)
// The command line overrides the job file, which overrides the declared defaults. An
// unknown option or a bad value is a ConfigError naming the option (and the job file).
// Built on Boost.ProgramOptions; every declaration binds straight to a field of the
// stage's options struct, so there is no second copy of option names.
#pragma once

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "core/named_enum.h"

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace styleseg {

class OptionSet {
 public:
  OptionSet(std::string command, std::string summary);

  // An option with a default (the target's current value, shown by --help).
  // A mode (core/named_enum.h) is given by its name and refused at parsing when misspelt:
  // "--noise must be const, random or none, got 'rnd'".
  template <typename T>
  OptionSet& add(const std::string& name, T* target, const std::string& help) {
    if constexpr (is_named_enum_v<T>) {
      std::string* text = enum_texts_.emplace_back(std::make_unique<std::string>()).get();
      desc_.add_options()(name.c_str(),
                          boost::program_options::value<std::string>(text)->default_value(name_of(*target))->notifier(
                              [target, name](const std::string& given) { *target = parse_name<T>(given, "--" + name); }),
                          help.c_str());
    } else {
      desc_.add_options()(name.c_str(), boost::program_options::value<T>(target)->default_value(*target), help.c_str());
    }
    record<T>(name, target);
    return *this;
  }
  // An option with no default: the target keeps its value when the option is absent.
  OptionSet& add_optional(const std::string& name, std::string* target, const std::string& help);
  OptionSet& add_optional(const std::string& name, std::optional<double>* target, const std::string& help);
  // Several values: `--name a b c` (one occurrence; in a job file `name = a` lines).
  OptionSet& add_list(const std::string& name, std::vector<std::string>* target, const std::string& help);
  // A switch: `--name`, `--name=false`, or `name = true` in the job file.
  OptionSet& add_flag(const std::string& name, bool* target, const std::string& help);

  // The first argument without a name is the value of option `name` (declared before):
  // `styleseg inspect data.h5` as `styleseg inspect --file data.h5`. With `count` -1 every
  // argument without a name goes to `name` (a list option).
  OptionSet& positional(const std::string& name, int count = 1);

  // Parses the arguments that follow the command name. Returns false when --help was
  // asked (help() then has the text). Throws ConfigError.
  bool parse(const std::vector<std::string>& args);

  std::string help() const;
  const std::string& command() const { return command_; }
  const std::string& summary() const { return summary_; }
  bool was_given(const std::string& name) const;   // on the command line or in the job file
  const std::string& job_file() const { return job_file_; }

  // The effective values, for provenance records. `exclude` drops options that do not
  // change results (output paths, logging).
  nlohmann::json to_json(const std::set<std::string>& exclude = {}) const;

 private:
  template <typename T>
  void record(const std::string& name, T* target) {
    values_.push_back({name, [target]() { return nlohmann::json(*target); }});
  }
  struct Recorded {
    std::string name;
    std::function<nlohmann::json()> value;
  };
  std::string command_;
  std::string summary_;
  std::string job_file_;
  boost::program_options::options_description desc_;
  boost::program_options::variables_map given_;
  boost::program_options::positional_options_description positional_;
  std::vector<Recorded> values_;
  std::vector<std::unique_ptr<std::string>> enum_texts_;  // the text of each mode option, parsed by its notifier
};

// Every `key = value` of a job file with its [section], in file order (`styleseg run` reads
// the sections of all its stages). Throws ConfigError naming the file.
struct JobEntry {
  std::string section, key, value;
  bool has_value = true;  // false for a bare key (a switch)
};
std::vector<JobEntry> read_job_file(const std::string& path);

// The command-line tokens of one entry: "--key=value", "--key" for a switch, and "--key" ""
// for an empty value (Boost refuses "--key=").
std::vector<std::string> option_tokens(const JobEntry& entry);

}  // namespace styleseg
