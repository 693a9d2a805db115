// Small text helpers shared by the parsers of option values and lists.
#pragma once

#include <string>
#include <vector>

namespace styleseg {

// `text` without leading and trailing spaces, tabs and line ends.
std::string trim(const std::string& text);

// The parts of `text` between `separator`s, as std::getline gives them ("a,,b" -> a, "", b;
// "" -> none; a trailing separator adds no empty part).
std::vector<std::string> split(const std::string& text, char separator);

}  // namespace styleseg
