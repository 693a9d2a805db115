#include "core/options.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace styleseg {
namespace {

// Boost's default style, without guessing: an abbreviation (--coun for --count) is an
// unknown option, not a guess that may pick another option (--resume for --resume-interval).
constexpr int kStyle = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;

// Boost.ProgramOptions fills in its messages by replacing "%value%", "%canonical_option%", ...
// with the user's text until none is left, so a text that holds such a placeholder itself
// makes the message loop forever (found by tests/fuzz/job_file). Refused before Boost
// sees it; `where` says where the text came from.
void refuse_boost_placeholders(const std::string& text, const std::string& where) {
  for (const char* token : {"%value%", "%canonical_option%", "%option%", "%original_token%", "%invalid_line%", "%prefix%"})
    if (text.find(token) != std::string::npos)
      throw ConfigError(where + ": '" + token + "' cannot appear in an option or a job file (Boost.ProgramOptions reserves it)");
}

}  // namespace

OptionSet::OptionSet(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)), desc_("Options", 100, 50) {
  desc_.add_options()("help,h", "show this help and exit")(
      "job", po::value<std::string>(&job_file_),
      ("job file (INI); its [" + command_ + "] section sets options, the command line overrides them").c_str());
}

OptionSet& OptionSet::add_optional(const std::string& name, std::string* target, const std::string& help) {
  desc_.add_options()(name.c_str(), po::value<std::string>(target), help.c_str());
  record<std::string>(name, target);
  return *this;
}

OptionSet& OptionSet::add_optional(const std::string& name, std::optional<double>* target, const std::string& help) {
  desc_.add_options()(name.c_str(), po::value<double>()->notifier([target](double v) { *target = v; }), help.c_str());
  values_.push_back({name, [target]() { return *target ? nlohmann::json(**target) : nlohmann::json(nullptr); }});
  return *this;
}

OptionSet& OptionSet::add_list(const std::string& name, std::vector<std::string>* target, const std::string& help) {
  desc_.add_options()(name.c_str(), po::value<std::vector<std::string>>(target)->multitoken(), help.c_str());
  record<std::vector<std::string>>(name, target);
  return *this;
}

OptionSet& OptionSet::add_flag(const std::string& name, bool* target, const std::string& help) {
  desc_.add_options()(name.c_str(), po::value<bool>(target)->default_value(*target)->implicit_value(true), help.c_str());
  record<bool>(name, target);
  return *this;
}

namespace {

// Boost's messages say "the argument ('x') for option '--count' is invalid"; keep them but
// say where the value came from.
[[noreturn]] void rethrow(const po::error& e, const std::string& where) {
  throw ConfigError(where + e.what());
}

// The [section] of an INI job file as "--key=value" tokens for the command-line parser.
std::vector<std::string> job_file_tokens(const std::string& path, const std::string& section) {
  std::vector<std::string> tokens;
  for (const auto& entry : read_job_file(path)) {
    if (entry.section != section) continue;
    const auto more = option_tokens(entry);
    tokens.insert(tokens.end(), more.begin(), more.end());
  }
  return tokens;
}

}  // namespace

std::vector<std::string> option_tokens(const JobEntry& entry) {
  if (!entry.has_value) return {"--" + entry.key};
  if (entry.value.empty()) return {"--" + entry.key, ""};
  return {"--" + entry.key + "=" + entry.value};
}

std::vector<JobEntry> read_job_file(const std::string& path) {
  std::error_code error;
  if (fs::is_directory(path, error)) throw ConfigError("--job: '" + path + "' is a folder, not a job file");
  std::ifstream file(path);
  if (!file) throw ConfigError("--job: cannot read job file '" + path + "'");
  std::stringstream in;
  in << file.rdbuf();
  std::string line;
  for (int number = 1; std::getline(in, line); ++number)
    refuse_boost_placeholders(line, "job file '" + path + "' line " + std::to_string(number));
  in.clear();
  in.seekg(0);
  po::options_description none;
  po::parsed_options parsed(&none);
  try {
    parsed = po::parse_config_file(in, none, /*allow_unregistered=*/true);
  } catch (const po::error& e) {
    throw ConfigError("job file '" + path + "': " + e.what());
  }
  std::vector<JobEntry> entries;
  for (const auto& option : parsed.options) {
    const auto dot = option.string_key.find('.');
    const std::string section = dot == std::string::npos ? "" : option.string_key.substr(0, dot);
    const std::string key = dot == std::string::npos ? option.string_key : option.string_key.substr(dot + 1);
    if (option.value.empty()) entries.push_back({section, key, "", false});
    for (const auto& value : option.value) entries.push_back({section, key, value});
  }
  return entries;
}

bool OptionSet::parse(const std::vector<std::string>& args) {
  for (const std::string& arg : args) refuse_boost_placeholders(arg, "command line '" + arg + "'");
  po::variables_map cli;
  try {
    po::store(po::command_line_parser(args).options(desc_).positional(positional_).style(kStyle).run(), cli);
  } catch (const po::error& e) {
    rethrow(e, "");
  }
  if (cli.count("help")) return false;
  given_ = cli;
  if (cli.count("job")) {
    const std::string path = cli["job"].as<std::string>();
    const auto tokens = job_file_tokens(path, command_);
    try {
      // Stored after the command line: po::store keeps the first value it sees, so the
      // command line wins.
      po::store(po::command_line_parser(tokens).options(desc_).style(kStyle).run(), given_);
    } catch (const po::error& e) {
      rethrow(e, "job file '" + path + "' [" + command_ + "]: ");
    }
  }
  try {
    po::notify(given_);
  } catch (const po::error& e) {
    rethrow(e, "");
  }
  return true;
}

OptionSet& OptionSet::positional(const std::string& name, int count) {
  positional_.add(name.c_str(), count);
  return *this;
}

std::string OptionSet::help() const {
  std::ostringstream out;
  out << "Usage: styleseg " << command_ << " [--job FILE.ini] [options]\n\n" << summary_ << "\n\n" << desc_;
  return out.str();
}

bool OptionSet::was_given(const std::string& name) const {
  auto it = given_.find(name);
  return it != given_.end() && !it->second.defaulted();
}

nlohmann::json OptionSet::to_json(const std::set<std::string>& exclude) const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& v : values_)
    if (!exclude.count(v.name)) out[v.name] = v.value();
  return out;
}

}  // namespace styleseg
