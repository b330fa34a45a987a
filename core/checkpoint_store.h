// The on-disk protocol of checkpoints, independent of what is in them (the trainer serializes
// tensors, optimizer and loader state into the parts):
//
//   RUN/checkpoints/step-NNNNNNNN/<parts>     each rank writes its own, each atomically
//   RUN/checkpoints/step-NNNNNNNN/meta.json   rank 0, after all parts: metadata + SHA-256 of
//                                             every part
//   RUN/checkpoints/step-NNNNNNNN/COMMIT      rank 0, last: the checkpoint is complete
//   RUN/checkpoints/latest                    the newest committed step, updated by rename
//
// A checkpoint without COMMIT (a rank killed mid-write) or whose parts do not match their
// hashes is skipped with a warning naming it; resume takes the newest valid one.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/atomic_file.h"

namespace trafficfm::core {

std::string checkpoint_dir_name(std::uint64_t step);  // "step-00000042"

// Whether `dir` (one step-NNNNNNNN directory) is committed and every part matches meta.json's
// SHA-256 (or, without `hashes`, is there with the size meta.json records); when not, `why`
// says what is wrong.
bool verify_checkpoint_dir(const std::string& dir, std::string* why, bool hashes = true);
// A whole file's bytes; throws naming the path when it cannot be read.
std::string read_whole_file(const std::string& path);

// A checkpoint from what a user names: a step directory, a run directory (its newest valid
// checkpoint) or a run's checkpoints/ directory. Throws naming the path and the problem.
std::string resolve_checkpoint_dir(const std::string& path);

class CheckpointStore {
 public:
  explicit CheckpointStore(std::string run_dir);
  const std::string& root() const { return root_; }  // RUN/checkpoints
  std::string step_dir(std::uint64_t step) const;

  struct WrittenPart {
    std::string sha256;
    std::uint64_t bytes = 0;
  };
  // Any rank: writes one part of `step` atomically (temporary name, fsync, rename; the
  // directory is fsynced once, by commit). `produce` streams the bytes (see ByteSink); they
  // are hashed on their way to disk, so the commit need not read the file back.
  WrittenPart write_part(std::uint64_t step, const std::string& name,
                         const std::function<void(const ByteSink&)>& produce) const;
  WrittenPart write_part(std::uint64_t step, const std::string& name, const std::string& bytes) const;
  // Rank 0, after every rank's write_part returned (a barrier): writes meta.json (`meta_json`
  // is a JSON object; "files" with each part's SHA-256 and size is added to it), then COMMIT,
  // then points `latest` at this step. `known_sha256` holds the hashes write_part returned on
  // this rank; parts other ranks wrote are hashed from disk. Throws naming a missing part.
  void commit(std::uint64_t step, const std::vector<std::string>& parts, const std::string& meta_json,
              const std::map<std::string, std::string>& known_sha256 = {}) const;

  struct Found {
    std::uint64_t step = 0;
    std::string dir;
  };
  // The newest committed checkpoint whose parts match meta.json's hashes; false when none.
  // Each one skipped adds a line naming it and why to `warnings`.
  bool newest_valid(Found& found, std::vector<std::string>* warnings) const;
  // The committed checkpoints whose parts are all there with the sizes meta.json records, newest
  // first, without hashing them (a resume checks the hashes of the parts each rank reads). Each
  // one skipped adds a line naming it and why to `warnings`.
  std::vector<std::uint64_t> committed_candidates(std::vector<std::string>* warnings) const;
  // Reads a part of a committed checkpoint (after newest_valid checked it).
  std::string read_part(const std::string& dir, const std::string& name) const;
  std::vector<std::uint64_t> committed_steps() const;  // ascending

  // Keeps the newest `keep_last` committed checkpoints plus every step that is a multiple of
  // `milestone_every` (0: none); removes the others and any uncommitted leftovers older than
  // the newest commit. Returns the steps removed.
  std::vector<std::uint64_t> apply_retention(std::size_t keep_last, std::uint64_t milestone_every) const;

 private:
  std::string root_;
};

}  // namespace trafficfm::core
