// What the trainer drives: a model, an objective turning a batch into named loss terms, and
// what the trainer needs to account for it (each batch's loss weight, FLOPs and tokens). Lens, MMAE and the
// graph model are Tasks; the trainer never branches on which.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "datasets/loader/loader.h"
#include "distributed/communicator.h"

namespace trafficfm::core {

class Task {
 public:
  virtual ~Task() = default;
  // The trained parameters (what the optimizer and the gradient sync see).
  virtual torch::nn::Module& model() = 0;
  // Named loss terms for one micro-batch; "loss" is the one that is optimized. Called in
  // training mode with gradients, and (by evaluation) under NoGradGuard in eval mode.
  // A term named "weight" is not a loss: it is the micro-batch's weight in the step's average
  // (a token model's target tokens), so that the step optimizes sum(weight * loss) /
  // sum(weight) over every micro-batch of every dp rank. Without it the weight is the batch's
  // rows (0 for a filler batch): the loss is a per-sample mean.
  virtual std::map<std::string, torch::Tensor> losses(const datasets::Batch& batch) = 0;
  // A loss that adds terms averaged over different examples (Lens: MSP over target tokens, POP
  // over rearranged packets, HTP over pairs) is not one weighted mean: a micro-batch holding no
  // POP example would halve POP's gradient. Such a task names its terms and their coefficients
  // here (loss = sum of coefficient * term), returns each term from losses() as its micro-batch
  // mean, and counts each term's examples in term_weights(), before any forward pass. The
  // trainer sums the counts over the step's micro-batches and the dp ranks, then backpropagates
  // sum_t coefficient_t * count_t / total_t * term_t per micro-batch: the step optimizes each
  // term's mean over all of its examples in the global batch, at any dp size and accumulation.
  // A logged term named t or t_<anything> (t_accuracy) is averaged with t's counts; "loss" is
  // logged as the sum of coefficient * term, and a "weight" term is not used. Empty: one weight
  // per micro-batch, as above.
  virtual std::map<std::string, double> loss_terms() const { return {}; }
  virtual std::map<std::string, double> term_weights(const datasets::Batch& /*batch*/) { return {}; }
  // Before the step's first micro-batch, for schedules inside the objective: where the run
  // stands, `position` in [0, total), in the run's unit (steps, or samples for a run defined in
  // samples, so that a resume at another dp keeps the schedule).
  virtual void begin_step(std::uint64_t /*position*/, std::uint64_t /*total*/) {}
  // After the optimizer update (an EMA teacher follows the student here).
  virtual void end_step() {}
  // Modules whose state the checkpoint holds: the model first (named ""), then any other
  // state that is not trained by the optimizer (an EMA teacher), each with a name prefix.
  virtual std::vector<std::pair<std::string, torch::nn::Module*>> checkpoint_modules() {
    return {{"", &model()}};
  }
  // Parameters that get no weight decay besides biases and norms (position embeddings, tokens).
  virtual bool no_weight_decay(const std::string& /*name*/) const { return false; }
  // Lookup tables (token, position, segment embeddings, relative position biases): parameters
  // that cost no FLOPs, left out of the non-embedding parameter count that scaling laws use
  // (Kaplan et al. 2020). An LM head is a matmul and counts, unless it is the tied embedding.
  virtual bool embedding_parameter(const std::string& /*name*/) const { return false; }
  // Multiplier of the learning rate for one parameter (layer-wise decay when fine-tuning).
  virtual double lr_scale(const std::string& /*name*/) const { return 1.0; }
  // Evaluation hooks: begin_eval before the val batches; end_eval after them returns metrics
  // that are not averages over batches (macro-F1 needs every prediction; `dp` reduces what the
  // ranks saw), logged with the val losses; after_eval sees everything logged (model selection).
  virtual void begin_eval() {}
  virtual std::map<std::string, double> end_eval(distributed::Communicator& /*dp*/) { return {}; }
  virtual void after_eval(std::uint64_t /*step*/, const std::map<std::string, double>& /*metrics*/) {}
  // Model FLOPs of one training sample (forward + backward), for MFU; 0 = unknown.
  virtual double flops_per_sample() const { return 0.0; }
  // Tokens one sample counts for in tokens/s and --train.tokens; 0 = not a token model.
  virtual double tokens_per_sample() const { return 0.0; }
  // Training FLOPs and tokens of one micro-batch, for a model whose cost depends on the batch
  // (variable lengths); by default rows times the per-sample constants. The trainer sums them
  // over dp. Called after losses(batch).
  virtual double batch_flops(const datasets::Batch& batch) const {
    return batch.filler ? 0.0 : static_cast<double>(batch.rows) * flops_per_sample();
  }
  // For a model whose FLOPs are counted per batch: what its units cost, for the start-of-run
  // log (the graph model: FLOPs per edge and per node); "" when there is nothing to say.
  virtual std::string flops_rates() const { return ""; }
  virtual double batch_tokens(const datasets::Batch& batch) const {
    return batch.filler ? 0.0 : static_cast<double>(batch.rows) * tokens_per_sample();
  }
  // The model's configuration as a JSON object (written beside exported weights).
  virtual std::string config_json() const { return "{}"; }
};

}  // namespace trafficfm::core
