// The seam between flows and a model family's input: an encoder declares its fixed HDF5
// schema and turns one flow into one sample row. Adding an encoder touches datasets/encoders
// and the CLI's list, nothing else.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "datasets/corpus/columns.h"
#include "datasets/flow/flow.h"
#include "datasets/flow/flow_table.h"

namespace trafficfm::datasets {

struct EncoderOptions {
  bool anonymize = true;      // zero addresses, ports and checksums in encoded bytes
  int packets = 5;            // lens: first K packets per sample
  int max_tokens = 512;       // lens: sequence length
  std::string pseudonym_key;  // flows: key of the host pseudonyms (hex)
  std::string spm_model;      // lens: SentencePiece model path ("" = bigram vocabulary)
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
};

// "mmae", "lens" or "flows"; throws std::invalid_argument listing the known names.
std::unique_ptr<Encoder> make_encoder(const std::string& name, const EncoderOptions& options);
const std::vector<std::string>& encoder_names();

// Zeroes IP addresses, the IPv4 header checksum, transport ports and checksums in a copy of
// the first `length` bytes of an IP packet (bounds-checked against `length`).
void anonymize_ip_bytes(std::uint8_t* ip, std::size_t length, std::size_t transport_offset,
                        std::uint8_t protocol);

}  // namespace trafficfm::datasets
