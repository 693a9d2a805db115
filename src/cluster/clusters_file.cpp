#include "cluster/clusters_file.h"

#include <ATen/ATen.h>

#include <limits>

#include "core/checked_cast.h"
#include "core/error.h"
#include "core/json_diff.h"
#include "io/atomic_output.h"
#include "io/h5.h"
#include "io/h5_tensor.h"

namespace styleseg::cluster {
namespace {

using h5::write_tensor;

at::Tensor read_checked(const h5::File& file, const std::string& name, size_t rank) {
  STYLESEG_CHECK(file.exists(name), InputError, file.path() + ": no dataset '" + name + "'");
  at::Tensor t = h5::read_tensor(file, name);
  STYLESEG_CHECK(t.dim() == static_cast<int64_t>(rank), InputError,
                 file.path() + ": dataset '" + name + "' must have " + std::to_string(rank) + " dimension(s)");
  return t;
}

// The map of a non-raw space: [D] and [D, D'] with D' the centroids' dimension, finite.
void read_space_map(const h5::File& file, Clusters& c) {
  const std::string& path = file.path();
  const at::Tensor mean = read_checked(file, "space_mean", 1).to(at::kDouble);
  const at::Tensor map = read_checked(file, "space_map", 2).to(at::kDouble);
  STYLESEG_CHECK(map.size(0) == mean.size(0) && map.size(1) == c.dim() && map.size(0) > 0, InputError,
                 path + ": 'space_map' must be [D, D'] with D the length of 'space_mean' and D' the centroids' " +
                     std::to_string(c.dim()));
  STYLESEG_CHECK(at::isfinite(mean).all().item<bool>() && at::isfinite(map).all().item<bool>(), InputError,
                 path + ": the space's map holds NaN or infinite values");
  c.space_map = {mean, map};
}

}  // namespace

void write_clusters(const std::string& path, const Clusters& c) {
  AtomicOutput output(path);
  {
    h5::File file = h5::File::create(output.temp_path(), MPI_COMM_NULL);
    write_tensor(file, "centroids", c.centroids.to(at::kFloat));
    write_tensor(file, "counts", c.counts.to(at::kLong));
    write_tensor(file, "inertia", at::tensor(c.inertia_history, at::kDouble));
    file.write_int_attribute("/", "clusters", c.num_clusters());
    file.write_int_attribute("/", "dim", c.dim());
    file.write_double_attribute("/", "final_inertia", c.inertia);
    file.write_int_attribute("/", "iterations", c.iterations);
    file.write_int_attribute("/", "converged", c.converged ? 1 : 0);
    file.write_string_attribute("/", "algorithm", c.algorithm);
    file.write_string_attribute("/", "init", c.init);
    file.write_string_attribute("/", "space", to_string(c.space));
    if (!c.space_map.is_identity()) {
      write_tensor(file, "space_mean", c.space_map.mean.to(at::kDouble));
      write_tensor(file, "space_map", c.space_map.map.to(at::kDouble));
    }
    file.write_string_attribute("/", "restart_inertia", nlohmann::json(c.restart_inertia).dump());
    file.write_int_attribute("/", "fixed_vectors", c.fixed_vectors);
    file.write_int_attribute("/", "vectors_processed", c.vectors_processed);
    file.write_double_attribute("/", "seconds", c.seconds);
    file.write_string_attribute("/", "source", c.source.dump());
    file.write_string_attribute("/", "options", c.options.dump());
    file.write_string_attribute("/", "styleseg_version", STYLESEG_VERSION);
    if (!c.names.empty()) {
      STYLESEG_ASSERT(static_cast<int64_t>(c.names.size()) == c.num_clusters(), "write_clusters: one name per cluster");
      file.write_string_attribute("/", "names", nlohmann::json(c.names).dump());
      file.write_string_attribute("/", "naming", c.naming.dump());
    }
    file.close();
  }
  output.commit();
}

Clusters read_clusters(const std::string& path) {
  const h5::File file = h5::File::open(path, h5::Mode::Read);
  Clusters c;
  c.centroids = read_checked(file, "centroids", 2).to(at::kFloat);
  c.counts = read_checked(file, "counts", 1).to(at::kLong);
  STYLESEG_CHECK(c.centroids.size(0) > 0 && c.counts.size(0) == c.centroids.size(0), InputError,
                 path + ": 'centroids' [K, D] and 'counts' [K] disagree on K (or K is 0)");
  STYLESEG_CHECK(at::isfinite(c.centroids).all().item<bool>(), InputError, path + ": centroids hold NaN or infinite values");
  if (file.exists("inertia")) {
    const at::Tensor inertia = h5::read_tensor(file, "inertia").to(at::kDouble).contiguous();
    c.inertia_history.assign(inertia.data_ptr<double>(), inertia.data_ptr<double>() + inertia.numel());
  }
  auto text = [&](const char* name) { return file.has_attribute("/", name) ? file.read_string_attribute("/", name) : ""; };
  auto number = [&](const char* name) { return file.has_attribute("/", name) ? file.read_double_attribute("/", name) : 0.0; };
  c.inertia = number("final_inertia");
  const auto count = [&](const char* name, int64_t highest) {
    return whole_number(number(name), 0, highest, path + ": attribute '" + name + "'");
  };
  c.iterations = static_cast<int>(count("iterations", std::numeric_limits<int>::max()));
  c.converged = number("converged") != 0;
  c.algorithm = text("algorithm");
  c.init = text("init");
  try {
    c.space = parse_space(text("space").empty() ? "raw" : text("space"), path + ": attribute 'space'");
  } catch (const ConfigError& e) {
    throw InputError(e.what());  // a file's fault, not an option's
  }
  if (!c.space.is_raw()) read_space_map(file, c);
  c.fixed_vectors = count("fixed_vectors", int64_t{1} << 62);
  c.vectors_processed = count("vectors_processed", int64_t{1} << 62);
  c.seconds = number("seconds");
  try {
    if (!text("restart_inertia").empty()) c.restart_inertia = nlohmann::json::parse(text("restart_inertia")).get<std::vector<double>>();
    if (!text("source").empty()) c.source = nlohmann::json::parse(text("source"));
    if (!text("options").empty()) c.options = nlohmann::json::parse(text("options"));
    if (!text("names").empty()) c.names = nlohmann::json::parse(text("names")).get<std::vector<std::string>>();
    if (!text("naming").empty()) c.naming = nlohmann::json::parse(text("naming"));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + ": a JSON attribute cannot be read: " + e.what());
  }
  STYLESEG_CHECK(c.names.empty() || static_cast<int64_t>(c.names.size()) == c.num_clusters(), InputError,
                 path + ": 'names' has " + std::to_string(c.names.size()) + " entries for " + std::to_string(c.num_clusters()) +
                     " clusters");
  return c;
}

void check_made_from(const Clusters& clusters, const std::string& clusters_path, const std::string& checkpoint,
                     const std::string& checkpoint_sha, const std::string& command) {
  STYLESEG_CHECK(clusters.source.value("kind", "") == "generator", ConfigError,
                 command + ": " + clusters_path + " holds clusters of a feature file; masks need clusters of a generator's features");
  const std::string made_from = clusters.source.value("checkpoint_sha256", "");
  STYLESEG_CHECK(made_from == checkpoint_sha, ConfigError,
                 command + ": " + clusters_path + " was made from " + clusters.source.value("checkpoint", "?") + " (SHA-256 " +
                     made_from.substr(0, 12) + "...), not from " + checkpoint + " (" + checkpoint_sha.substr(0, 12) + "...)");
}

void write_kmeans_state(const std::string& path, const KMeansState& s, const std::string& identity) {
  AtomicOutput output(path, "new");
  {
    h5::File file = h5::File::create(output.temp_path(), MPI_COMM_NULL);
    if (s.centroids.defined()) write_tensor(file, "centroids", s.centroids);
    if (s.seen.defined()) write_tensor(file, "seen", s.seen);
    if (s.best.centroids.defined()) {
      write_tensor(file, "best_centroids", s.best.centroids);
      write_tensor(file, "best_counts", s.best.counts);
    }
    const nlohmann::json fields = {{"restart", s.restart}, {"iteration", s.iteration}, {"inertia", s.inertia},
                                   {"converged", s.converged}, {"vectors_processed", s.vectors_processed},
                                   {"best_restart", s.best.restart}, {"best_inertia", s.best.restart >= 0 ? s.best.inertia : 0.0},
                                   {"best_history", s.best.inertia_history}, {"best_converged", s.best.converged},
                                   {"best_iterations", s.best.iterations}, {"restart_inertia", s.restart_inertia}};
    file.write_string_attribute("/", "kmeans_state", fields.dump());
    file.write_string_attribute("/", "identity", identity);
    file.close();
  }
  output.commit();
}

KMeansState read_kmeans_state(const std::string& path, const std::string& identity) {
  const h5::File file = h5::File::open(path, h5::Mode::Read);
  STYLESEG_CHECK(file.has_attribute("/", "kmeans_state") && file.has_attribute("/", "identity"), InputError,
                 path + ": not a k-means resume state");
  require_same_job(path, identity, file.read_string_attribute("/", "identity"));
  KMeansState s;
  try {
    const nlohmann::json f = nlohmann::json::parse(file.read_string_attribute("/", "kmeans_state"));
    s.restart = f.at("restart");
    s.iteration = f.at("iteration");
    s.inertia = f.at("inertia").get<std::vector<double>>();
    s.converged = f.at("converged");
    s.vectors_processed = f.at("vectors_processed");
    s.best.restart = f.at("best_restart");
    if (s.best.restart >= 0) s.best.inertia = f.at("best_inertia");
    s.best.inertia_history = f.at("best_history").get<std::vector<double>>();
    s.best.converged = f.at("best_converged");
    s.best.iterations = f.at("best_iterations");
    s.restart_inertia = f.at("restart_inertia").get<std::vector<double>>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + ": the k-means state cannot be read: " + e.what());
  }
  if (file.exists("centroids")) s.centroids = h5::read_tensor(file, "centroids").to(at::kFloat);
  if (file.exists("seen")) s.seen = h5::read_tensor(file, "seen").to(at::kDouble);
  if (file.exists("best_centroids")) {
    s.best.centroids = h5::read_tensor(file, "best_centroids").to(at::kFloat);
    s.best.counts = h5::read_tensor(file, "best_counts").to(at::kLong);
  }
  STYLESEG_CHECK(s.iteration == 0 || s.centroids.defined(), InputError, path + ": the k-means state has no centroids");
  return s;
}

}  // namespace styleseg::cluster
