// T5's relative position buckets (Raffel et al., 2020; T5 v1.1 and Hugging Face's T5 use the
// same function). The distance key − query is put into `num_buckets` buckets: exact for small
// distances, logarithmic up to `max_distance`, and the last bucket beyond it. Bidirectional
// (the encoder): half of the buckets for keys after the query. Causal (the decoder): only keys
// at or before the query get distinct buckets; later keys share bucket 0 (they are masked).
// Each stack learns one bias table [num_buckets, heads] in its first layer, shared by its layers.
#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace trafficfm::models {

// The bucket of one distance (key position − query position).
std::int64_t relative_position_bucket(std::int64_t distance, bool bidirectional,
                                      std::int64_t num_buckets = 32, std::int64_t max_distance = 128);

// [query_length, key_length] int64: bucket of key k for query q (distance k − q).
torch::Tensor relative_position_buckets(std::int64_t query_length, std::int64_t key_length,
                                        bool bidirectional, std::int64_t num_buckets = 32,
                                        std::int64_t max_distance = 128);

}  // namespace trafficfm::models
