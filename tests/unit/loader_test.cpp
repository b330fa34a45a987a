// The streaming loader: disjoint, complete and deterministic shares per data-parallel rank;
// the ranks of a step together see exactly the single-rank batch; exact resume, also at a
// different dp size; at dp 4 each block decompressed by about one rank; bad shards refused by
// name.
#include "datasets/loader/loader.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "tests/support/corpus_fixture.h"
#include "tests/support/test_paths.h"

namespace trafficfm::datasets {
namespace {

class LoaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = testing::make_temp_dir("loader");
    corpus_ = testing::make_synth_corpus(dir_);
  }
  static void TearDownTestSuite() { testing::remove_tree(dir_); }
  static LoaderOptions options(int rank, int size, std::size_t batch) {
    LoaderOptions o;
    o.corpus = corpus_;
    o.dp_rank = rank;
    o.dp_size = size;
    o.batch_size = batch;
    o.seed = 42;
    o.window_blocks = 3;
    return o;
  }
  static std::string dir_, corpus_;
};
std::string LoaderTest::dir_, LoaderTest::corpus_;

TEST_F(LoaderTest, RanksAreDisjointCompleteAndMatchTheSingleRankBatches) {
  Loader single(options(0, 1, 24));
  const std::uint64_t n = single.samples_per_epoch();
  ASSERT_GT(n, 200u);
  for (const WindowShuffle shuffle : {WindowShuffle::kInterleave, WindowShuffle::kWindow}) {
    auto with = [&](int rank, int size, std::size_t batch) {
      auto o = options(rank, size, batch);
      o.shuffle = shuffle;
      return o;
    };
    for (int dp : {1, 2, 4}) {
      const std::string what = to_string(shuffle) + ", dp " + std::to_string(dp);
      std::vector<std::unique_ptr<Loader>> ranks;
      for (int r = 0; r < dp; ++r) ranks.push_back(std::make_unique<Loader>(with(r, dp, 24 / dp)));
      Loader reference(with(0, 1, 24));
      std::set<std::uint64_t> seen;
      for (std::uint64_t step = 0; step < reference.steps_per_epoch(); ++step) {
        const Batch whole = reference.next();
        std::vector<std::uint64_t> joined;
        for (auto& loader : ranks) {
          const Batch part = loader->next();
          EXPECT_EQ(part.step, step);
          joined.insert(joined.end(), part.sample_index.begin(), part.sample_index.end());
          for (auto s : part.sample_index) EXPECT_TRUE(seen.insert(s).second) << "sample " << s << " twice";
        }
        EXPECT_EQ(joined, whole.sample_index) << what << " step " << step;
      }
      EXPECT_EQ(seen.size(), n) << what;
      EXPECT_EQ(*seen.rbegin(), n - 1);
    }
  }
}

TEST_F(LoaderTest, DeterministicInSeedAndEpochShuffled) {
  Loader a(options(0, 1, 50)), b(options(0, 1, 50));
  auto o = options(0, 1, 50);
  o.seed = 43;
  Loader c(o);
  const Batch first = a.next();
  EXPECT_EQ(first.sample_index, b.next().sample_index);
  EXPECT_NE(first.sample_index, c.next().sample_index);
  // Shuffled: not the storage order.
  std::vector<std::uint64_t> sorted = first.sample_index;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NE(sorted, first.sample_index);
  // The next epoch visits the samples in another order.
  for (std::uint64_t s = 1; s < a.steps_per_epoch(); ++s) a.next();
  const Batch next_epoch = a.next();
  EXPECT_EQ(next_epoch.epoch, 1u);
  EXPECT_NE(next_epoch.sample_index, first.sample_index);
}

TEST_F(LoaderTest, ResumeGivesExactlyTheSameBatches) {
  Loader straight(options(0, 1, 16));
  std::vector<Batch> expected;
  for (int i = 0; i < 30; ++i) expected.push_back(straight.next());  // crosses an epoch boundary
  Loader first(options(0, 1, 16));
  for (int i = 0; i < 11; ++i) first.next();
  const std::string saved = first.state().to_json();
  Loader resumed(options(0, 1, 16));
  resumed.restore(LoaderState::from_json(saved));
  for (int i = 11; i < 30; ++i) {
    const Batch b = resumed.next();
    EXPECT_EQ(b.sample_index, expected[i].sample_index) << i;
    EXPECT_EQ(b.data, expected[i].data) << i;  // the bytes, not only the ids
  }
}

TEST_F(LoaderTest, RestoreRefusesAnotherCorpusBuildOrOrderSettingsNamingBoth) {
  Loader first(options(0, 1, 16));
  for (int i = 0; i < 3; ++i) first.next();
  const LoaderState saved = LoaderState::from_json(first.state().to_json());
  EXPECT_EQ(saved.data.corpus.size(), 16u);
  EXPECT_EQ(saved.data.window_blocks, 3u);
  auto expect_refused = [&](const LoaderOptions& o, const std::string& named) {
    Loader other(o);
    try {
      other.restore(saved);
      FAIL() << "restored onto " << named;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(named), std::string::npos) << e.what();
    }
  };
  // The same corpus built again from other captures (a rebuilt corpus).
  const std::string rebuilt = testing::make_synth_corpus(dir_ + "/rebuilt", {300, 4});
  auto o = options(0, 1, 16);
  o.corpus = rebuilt;
  expect_refused(o, "corpus fingerprint " + saved.data.corpus + " (saved)");
  o = options(0, 1, 16);
  o.window_blocks = 5;
  expect_refused(o, "--data.window-blocks 3 (saved) vs 5 (now)");
  o = options(0, 1, 16);
  o.shuffle = WindowShuffle::kWindow;
  expect_refused(o, "--data.shuffle interleave (saved) vs window (now)");
  // A state saved before --data.shuffle existed (no "shuffle" key) was in the window order: it
  // resumes with --data.shuffle window, and the default names the option.
  {
    auto w = options(0, 1, 16);
    w.shuffle = WindowShuffle::kWindow;
    Loader window_run(w);
    for (int i = 0; i < 3; ++i) window_run.next();
    std::string old_json = window_run.state().to_json();
    const auto key = old_json.find(", \"shuffle\"");
    ASSERT_NE(key, std::string::npos) << old_json;
    old_json.erase(key, old_json.find('}', key) - key);
    const LoaderState old_state = LoaderState::from_json(old_json);
    Loader resumed(w);
    EXPECT_NO_THROW(resumed.restore(old_state));
    Loader now(options(0, 1, 16));
    try {
      now.restore(old_state);
      FAIL() << "a window-order state restored into the interleaved order";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("--data.shuffle window (saved) vs interleave (now)"),
                std::string::npos)
          << e.what();
    }
  }
  o = options(0, 1, 16);
  o.block_rows = 8;
  expect_refused(o, "block rows " + std::to_string(saved.data.block_rows) + " (saved) vs 8 (now)");
  o = options(0, 1, 16);
  o.subset = {1, 2, 3, 5, 8, 13, 21, 34};
  expect_refused(o, "order fingerprint");
  // A state saved before fingerprints were recorded still restores; batch size and dp are
  // not part of the order.
  Loader old(options(0, 2, 8));
  old.restore(LoaderState::from_json("{\"seed\": 42, \"epoch\": 0, \"position\": 48}"));
  EXPECT_EQ(old.state().data.corpus, saved.data.corpus);
  Loader wider(options(1, 2, 8));
  wider.restore(saved);
  EXPECT_EQ(wider.state().position, saved.position);
}

TEST_F(LoaderTest, RestoreAtAnotherDpSizeKeepsTheEpochExact) {
  std::set<std::uint64_t> seen;
  std::uint64_t total = 0;
  LoaderState saved;
  {
    Loader r0(options(0, 2, 8)), r1(options(1, 2, 8));
    total = r0.samples_per_epoch();
    for (int step = 0; step < 5; ++step) {
      for (Loader* l : {&r0, &r1}) {
        for (auto s : l->next().sample_index) EXPECT_TRUE(seen.insert(s).second);
      }
    }
    saved = r0.state();
    EXPECT_EQ(saved.position, 80u);
  }
  std::vector<std::unique_ptr<Loader>> three;
  for (int r = 0; r < 3; ++r) {
    three.push_back(std::make_unique<Loader>(options(r, 3, 7)));
    three.back()->restore(saved);
  }
  while (seen.size() < total) {
    std::uint64_t epoch = 0;
    for (auto& l : three) {
      const Batch b = l->next();
      epoch = b.epoch;
      for (auto s : b.sample_index) EXPECT_TRUE(seen.insert(s).second) << "sample " << s << " twice";
    }
    ASSERT_EQ(epoch, 0u) << "epoch ended before every sample was seen";
  }
  EXPECT_EQ(three[0]->state().epoch, 1u);  // and the epoch ended exactly there
  EXPECT_EQ(three[0]->state().position, 0u);
}

// Blocks decompressed over two epochs by dp ranks together, per block one rank alone reads.
double blocks_read_ratio(LoaderOptions o, int dp) {
  auto reads = [&](int size) {
    std::uint64_t sum = 0, steps = 0;
    std::vector<std::unique_ptr<Loader>> ranks;
    for (int r = 0; r < size; ++r) {
      o.dp_rank = r;
      o.dp_size = size;
      ranks.push_back(std::make_unique<Loader>(o));
    }
    steps = 2 * ranks[0]->steps_per_epoch();
    for (std::uint64_t s = 0; s < steps; ++s) {
      for (auto& l : ranks) l->next();
    }
    for (auto& l : ranks) {
      sum += l->blocks_read();
      std::printf("rank reads %lu steps %lu\n", (unsigned long)l->blocks_read(), (unsigned long)steps);
    }
    return static_cast<double>(sum);
  };
  const std::size_t per_rank = o.batch_size;
  o.batch_size = per_rank * static_cast<std::size_t>(dp);
  const double alone = reads(1);
  o.batch_size = per_rank;
  return reads(dp) / alone;
}

// At dp 4 the interleaved window order splits each step by lane, so each block is
// decompressed by about one rank; the window order has every rank read nearly every block.
TEST_F(LoaderTest, AtDp4EachBlockIsDecompressedByAboutOneRank) {
  const std::string dir = testing::make_temp_dir("loader-locality");
  testing::CorpusSpec spec;
  spec.flows = 1200;
  spec.shard_mb = 1.0;
  spec.chunk_rows = 16;
  const std::string corpus = testing::make_synth_corpus(dir, spec);
  // Small shards of 30 rows in blocks of 4 (a short block ends every shard), and shards of
  // hundreds of rows in blocks of 16; both many more blocks than a rank caches (2 windows).
  const std::map<std::string, std::pair<std::string, std::size_t>> corpora{{"30-row shards", {corpus_, 4}},
                                                                           {"larger shards", {corpus, 0}}};
  for (const auto& [name, c] : corpora) {
    LoaderOptions o;
    o.corpus = c.first;
    o.block_rows = c.second;
    o.seed = 7;
    o.batch_size = 8;
    o.window_blocks = 8;
    o.prefetch = 1;
    const double interleaved = blocks_read_ratio(o, 4);
    o.shuffle = WindowShuffle::kWindow;
    const double windowed = blocks_read_ratio(o, 4);
    std::printf("%s: blocks decompressed at dp 4 / at dp 1: interleave %.3f, window %.3f\n", name.c_str(),
                interleaved, windowed);
    EXPECT_LE(interleaved, 1.3) << name;
    EXPECT_GT(windowed, 2.0) << name;
  }
  testing::remove_tree(dir);
}

TEST_F(LoaderTest, CorruptShardIsRefusedByNameOrSkipped) {
  const std::string dir = testing::make_temp_dir("loader-bad");
  const std::string corpus = testing::make_synth_corpus(dir, {200, 5});
  const Manifest m = read_manifest(corpus);
  const std::string victim = corpus + "/" + m.shards_of("train").front().file;
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-100, std::ios::end);
    char c;
    f.read(&c, 1);
    f.seekp(-100, std::ios::end);
    c = static_cast<char>(c ^ 0x40);
    f.write(&c, 1);
  }
  LoaderOptions o;
  o.corpus = corpus;
  try {
    Loader loader(o);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(victim), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("SHA-256"), std::string::npos) << e.what();
  }
  o.skip_bad_shards = true;
  {
    // Gone before its files are: its worker starts reading shards as soon as it is built.
    Loader loader(o);
    EXPECT_EQ(loader.skipped_shards(), 1u);
    EXPECT_EQ(loader.samples_per_epoch(), m.samples("train") - m.shards_of("train").front().samples);
  }
  testing::remove_tree(dir);
}

// A requeued job does not hash its corpus again; a changed shard is hashed again and caught.
TEST_F(LoaderTest, ShardsAreHashedOnceUntilOneChanges) {
  const std::string dir = testing::make_temp_dir("loader-verified");
  const std::string corpus = testing::make_synth_corpus(dir, {200, 5});
  const Manifest m = read_manifest(corpus);
  const std::size_t train_shards = m.shards_of("train").size();
  // A corpus written an hour ago (file times are coarse: a shard verified in the tick it was
  // written is not trusted, verified_shards.h).
  for (const auto& s : m.shards) {
    const std::string path = corpus + "/" + s.file;
    struct timespec times[2];
    clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec -= 3600;
    times[1] = times[0];
    ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  }
  LoaderOptions o;
  o.corpus = corpus;
  EXPECT_EQ(Loader(o).shards_hashed(), train_shards) << "the first start hashes every shard";
  ASSERT_TRUE(std::filesystem::exists(corpus + "/verified.json"));
  EXPECT_EQ(Loader(o).shards_hashed(), 0u) << "a second start trusts verified.json";
  o.verify = VerifyShards::kAlways;
  EXPECT_EQ(Loader(o).shards_hashed(), train_shards);
  o.verify = VerifyShards::kNever;
  EXPECT_EQ(Loader(o).shards_hashed(), 0u);
  // One byte changed in place: same size, a new mtime. Hashed again, and refused by name.
  const std::string victim = corpus + "/" + m.shards_of("train").back().file;
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-100, std::ios::end);
    char c = 0;
    f.read(&c, 1);
    f.seekp(-100, std::ios::end);
    c = static_cast<char>(c ^ 0x40);
    f.write(&c, 1);
  }
  o.verify = VerifyShards::kOnce;
  try {
    Loader loader(o);
    FAIL() << "a changed shard must be caught";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(victim), std::string::npos) << e.what();
  }
  testing::remove_tree(dir);
}

TEST_F(LoaderTest, ColumnsCanBeSelected) {
  auto o = options(0, 1, 4);
  o.columns = {"bytes", "label"};
  Loader loader(o);
  const Batch b = loader.next();
  ASSERT_EQ(b.specs.size(), 2u);
  EXPECT_EQ(b.data[0].size(), 4u * 1600);
  for (int i = 0; i < 4; ++i) EXPECT_GE(b.column<std::int32_t>("label")[i], 0);
  o.columns = {"nope"};
  EXPECT_THROW(Loader bad(o), std::invalid_argument);
}

TEST_F(LoaderTest, SubsetVisitsExactlyItsSamplesWithTheirRows) {
  Loader all(options(0, 1, 64));
  const std::uint64_t n = all.samples_per_epoch();
  // Every 7th sample plus a run of consecutive ones: the subset's own rows, each once an epoch.
  std::map<std::uint64_t, std::vector<std::uint8_t>> bytes_of;
  for (std::uint64_t step = 0; step < all.steps_per_epoch(); ++step) {
    const Batch b = all.next();
    const std::size_t width = b.data[0].size() / b.rows;
    for (std::size_t r = 0; r < b.rows; ++r) {
      bytes_of[b.sample_index[r]].assign(b.data[0].begin() + r * width, b.data[0].begin() + (r + 1) * width);
    }
  }
  std::vector<std::uint64_t> subset;
  for (std::uint64_t i = 0; i < n; ++i) {
    if (i % 7 == 3 || (i >= 40 && i < 52)) subset.push_back(i);
  }
  auto o = options(0, 1, 5);
  o.subset = subset;
  Loader part(o);
  EXPECT_EQ(part.samples_per_epoch(), subset.size());
  std::set<std::uint64_t> seen;
  for (std::uint64_t step = 0; step < part.steps_per_epoch(); ++step) {
    const Batch b = part.next();
    const std::size_t width = b.data[0].size() / b.rows;
    for (std::size_t r = 0; r < b.rows; ++r) {
      EXPECT_TRUE(seen.insert(b.sample_index[r]).second);
      const std::vector<std::uint8_t> row(b.data[0].begin() + r * width, b.data[0].begin() + (r + 1) * width);
      EXPECT_EQ(row, bytes_of[b.sample_index[r]]) << "sample " << b.sample_index[r];
    }
  }
  EXPECT_EQ(std::vector<std::uint64_t>(seen.begin(), seen.end()), subset);
  o.subset = {5, 5};
  EXPECT_THROW(Loader bad(o), std::invalid_argument);
}

TEST_F(LoaderTest, AnEmptyShareBecomesOneFillerRowWhenAsked) {
  // 17 samples in global batches of 16 over 2 ranks: the second step has one sample, rank 0 none.
  std::vector<std::uint64_t> subset;
  for (std::uint64_t i = 0; i < 17; ++i) subset.push_back(i);
  for (bool pad : {false, true}) {
    auto o0 = options(0, 2, 8), o1 = options(1, 2, 8);
    o0.subset = o1.subset = subset;
    o0.pad_empty_ranks = o1.pad_empty_ranks = pad;
    Loader rank0(o0), rank1(o1);
    ASSERT_EQ(rank0.steps_per_epoch(), 2u);
    rank0.next();
    rank1.next();
    Batch a = rank0.next(), b = rank1.next();
    // The one sample goes to the higher rank (shares are n * rank / dp .. n * (rank + 1) / dp).
    const Batch& real = b;
    const Batch& empty = a;
    EXPECT_EQ(real.rows, 1u);
    EXPECT_FALSE(real.filler);
    EXPECT_EQ(real.global_rows, 1u);
    if (!pad) {
      EXPECT_EQ(empty.rows, 0u);
      EXPECT_FALSE(empty.filler);
      continue;
    }
    ASSERT_EQ(empty.rows, 1u);
    EXPECT_TRUE(empty.filler);
    EXPECT_EQ(empty.sample_index, real.sample_index) << "the filler repeats the step's real sample";
    EXPECT_EQ(empty.data[0], real.data[0]);
  }
}

}  // namespace
}  // namespace trafficfm::datasets
