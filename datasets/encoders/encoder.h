// The seam between flows and a model family's input: an encoder declares its fixed HDF5
// schema and turns one flow into one sample row. Adding an encoder touches datasets/encoders
// and the CLI's list, nothing else.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "datasets/corpus/columns.h"
#include "datasets/encoders/flows_encoder.h"
#include "datasets/flow/flow.h"
#include "datasets/flow/flow_table.h"

namespace trafficfm::datasets {

struct EncoderOptions {
  bool anonymize = true;      // zero addresses, ports, checksums; relative TCP numbers, IP IDs
  int packets = 5;            // lens: first K packets per sample
  int max_tokens = 512;       // lens: sequence length
  std::string pseudonym_key;  // flows: key of the host pseudonyms (hex)
  std::string spm_model;      // lens: SentencePiece model path ("" = bigram vocabulary)
  // graph: windows, slices per graph, temporal neighbours, partitioning (datasets/graph/).
  double graph_window_s = 5.0;
  int graph_slices = 5;
  int graph_neighbors = 20;
  int graph_max_nodes = 10000;   // larger graphs are cut into METIS parts with halos
  int graph_layers = 2;          // halo depth: the model's message-passing layers
  std::uint64_t graph_seed = 0;  // METIS' seed
};

// Where a whole-file encoder writes its samples: split_of(h) is prep's split rule for a group
// hash, buffer(split) the row buffer to fill, commit(split, hash) completes the row (hash: the
// corpus' flow_hash column). With by_time (--split-by time) the encoder splits by time instead:
// split_at(u) for a place u in [0, 1] of the file's time span (train first, then val, test),
// for flows and samples alike, and the splits collect() was given are replaced.
struct FileSink {
  std::function<int(std::uint64_t)> split_of;
  bool by_time = false;
  std::function<int(double)> split_at;
  std::function<ColumnBuffer&(int)> buffer;
  std::function<void(int, std::uint64_t)> commit;
};

class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual std::string name() const = 0;
  // Settings recorded in the manifest (everything that changes the bytes written).
  virtual core::JsonObject settings() const = 0;
  // The encoder's own columns; the corpus writer adds `label` and `flow_hash`.
  virtual std::vector<ColumnSpec> schema() const = 0;
  // What the flow table must keep for this encoder.
  virtual void adjust(FlowTableOptions& options) const = 0;
  // Appends one row for `flow` to the encoder's columns (column indices as in schema()).
  // Returns false when the flow cannot be encoded (nothing appended).
  virtual bool encode(const Flow& flow, ColumnBuffer& out) = 0;

  // A whole-file encoder (graph) builds its samples from all flows of one source file: prep
  // hands it every flow with its label, split and key through collect(), then end_file() writes
  // the file's samples into `sink`. encode() is not called for it. Per-sample encoders keep
  // these defaults.
  virtual bool whole_file() const { return false; }
  virtual void collect(const FlowRecord& /*record*/, std::int32_t /*label*/, int /*split*/,
                       std::uint64_t /*key*/) {}
  virtual void end_file(const std::string& /*path*/, const FileSink& /*sink*/) {}
  // The file failed half-way: forget what collect() got from it.
  virtual void abandon_file() {}
  // Settings learned from the data (graph: feature ranges on the train split), as prep merges
  // them across ranks: per name, elementwise min (names ending in "_min") or max.
  virtual std::map<std::string, std::vector<double>> learned() const { return {}; }
};

// "mmae", "lens", "flows" or "graph"; throws std::invalid_argument listing the known names.
std::unique_ptr<Encoder> make_encoder(const std::string& name, const EncoderOptions& options);
const std::vector<std::string>& encoder_names();

// Zeroes IP addresses, the IPv4 header checksum, transport ports and checksums in a copy of
// the first `length` bytes of an IP packet (bounds-checked against `length`).
void anonymize_ip_bytes(std::uint8_t* ip, std::size_t length, std::size_t transport_offset,
                        std::uint8_t protocol);

// Anonymizes one flow's packets, given in flow order: anonymize_ip_bytes on each; TCP sequence
// and acknowledgement numbers made relative to each direction's first one, as Wireshark shows
// them (a handshake reads seq 0, then seq 0 ack 1, then seq 1 ack 1); and IPv4 identifications
// made relative to each direction's first (0, then the host's increments). An initial sequence
// number is random per connection (RFC 6528) and a first IP ID is a host counter's or a random
// value: a model can only memorize or copy them, and they mark the host or connection. A
// direction's sequence base is its first sequence number, or, when the other side acknowledges
// it first (a capture that starts mid-connection), that acknowledgement number. The
// acknowledgement number of a segment without ACK is left as is, and so are fields the captured
// bytes do not reach.
class FlowAnonymizer {
 public:
  explicit FlowAnonymizer(std::uint8_t protocol) : protocol_(protocol) {}
  // `ip`: a copy of the first `length` bytes of `packet`'s IP packet, changed in place.
  void apply(std::uint8_t* ip, std::size_t length, const FlowPacket& packet);

 private:
  // One number space per direction (client 0, server 1), modulo 2^32 or 2^16.
  struct Base {
    std::uint32_t value[2] = {0, 0};
    bool known[2] = {false, false};
    std::uint32_t relative(int direction, std::uint32_t number);
  };
  std::uint8_t protocol_;
  Base tcp_, ip_id_;
};

}  // namespace trafficfm::datasets
