// Modes chosen by name (--noise random, `init = kmeans||` in a job file) and held as enums in
// the options structs, so that the stages compare types, never strings, and a misspelt mode
// is refused once, where it is parsed, naming the option. An enum takes part by declaring its
// names beside itself, found by argument-dependent lookup:
//
//   enum class NoiseMode { Const, Random, None };
//   constexpr std::array<NamedValue<NoiseMode>, 3> names_of(NoiseMode) {
//     return {{{NoiseMode::Const, "const"}, {NoiseMode::Random, "random"}, {NoiseMode::None, "none"}}};
//   }
//
// It is then written as its name wherever it is printed or recorded (name_of, streams, JSON:
// provenance records keep the names users typed) and read with parse_name.
#pragma once

#include "core/error.h"

#include <nlohmann/json.hpp>

#include <array>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace styleseg {

template <typename E>
struct NamedValue {
  E value;
  const char* name;
};

namespace detail {
template <typename E, typename = void>
struct HasNames : std::false_type {};
template <typename E>
struct HasNames<E, std::void_t<decltype(names_of(std::declval<E>()))>> : std::is_enum<E> {};
}  // namespace detail

template <typename E>
constexpr bool is_named_enum_v = detail::HasNames<E>::value;

// The name of `value` ("?" for a value outside the declared names: a bug where it is printed).
template <typename E, typename = std::enable_if_t<is_named_enum_v<E>>>
const char* name_of(E value) {
  for (const auto& entry : names_of(value))
    if (entry.value == value) return entry.name;
  return "?";
}

// The value named `text`, or nullopt.
template <typename E>
std::optional<E> value_named(const std::string& text) {
  for (const auto& entry : names_of(E{}))
    if (text == entry.name) return entry.value;
  return std::nullopt;
}

// "lloyd or minibatch", "const, random or none": the names, for messages and help.
template <typename E>
std::string names_listed() {
  const auto entries = names_of(E{});
  std::string listed;
  for (size_t i = 0; i < entries.size(); ++i)
    listed += (i == 0 ? "" : i + 1 == entries.size() ? " or " : ", ") + std::string(entries[i].name);
  return listed;
}

// The value named `text`; ConfigError "WHAT must be A, B or C, got 'text'" otherwise (`what`
// names the option: "--noise", "probe variant key normalize").
template <typename E>
E parse_name(const std::string& text, const std::string& what) {
  const std::optional<E> value = value_named<E>(text);
  STYLESEG_CHECK(value.has_value(), ConfigError, what + " must be " + names_listed<E>() + ", got '" + text + "'");
  return *value;
}

}  // namespace styleseg

// JSON sees the names (provenance records keep what users typed).
namespace nlohmann {
template <typename E>
struct adl_serializer<E, std::enable_if_t<styleseg::is_named_enum_v<E>>> {
  static void to_json(json& j, E value) { j = styleseg::name_of(value); }
  static void from_json(const json& j, E& value) { value = styleseg::parse_name<E>(j.get<std::string>(), "a JSON value"); }
};
}  // namespace nlohmann
