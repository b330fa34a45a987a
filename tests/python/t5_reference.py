"""T5 v1.1 forward written from the model's definition (Raffel et al.; the layout Hugging
Face's T5 uses), independent of trafficfm's C++: reads a torch.save dict holding the weights
(Hugging Face's T5 names), the inputs and trafficfm's logits, recomputes the logits and prints
the largest absolute difference. Exit 0 when it is below the tolerance.

    python3 t5_reference.py FILE.pt D_MODEL HEADS D_KV VOCAB TIED TOLERANCE
    python3 t5_reference.py --hf DIR INPUTS.pt TOLERANCE

The second form takes the sizes from DIR/config.json (a Hugging Face T5Config) and the weights
from DIR/model.safetensors, read with numpy only (the format: an 8-byte little-endian header
length, a JSON header of dtype, shape and byte offsets, then raw little-endian data).
"""
import json
import math
import struct
import sys

import numpy
import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    types = {"F32": numpy.float32, "F64": numpy.float64, "I64": numpy.int64, "I32": numpy.int32}
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        array = numpy.frombuffer(data[8 + length + begin:8 + length + end], dtype=types[entry["dtype"]])
        out[name] = torch.from_numpy(array.reshape(entry["shape"]).copy())
    return out


def bucket(relative, bidirectional, num_buckets=32, max_distance=128):
    out = torch.zeros_like(relative)
    if bidirectional:
        num_buckets //= 2
        out += (relative > 0).long() * num_buckets
        n = relative.abs()
    else:
        n = (-relative).clamp(min=0)
    max_exact = num_buckets // 2
    large = max_exact + (torch.log(n.float().clamp(min=1) / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).long()
    large = large.clamp(max=num_buckets - 1)
    return out + torch.where(n < max_exact, n, large)


def main():
    if sys.argv[1] == "--hf":
        directory, inputs, tolerance = sys.argv[2], sys.argv[3], float(sys.argv[4])
        with open(directory + "/config.json") as f:
            config = json.load(f)
        assert config["model_type"] == "t5" and config["feed_forward_proj"] == "gated-gelu"
        d_model, heads, d_kv, vocab = config["d_model"], config["num_heads"], config["d_kv"], config["vocab_size"]
        tied = config["tie_word_embeddings"]
        t = read_safetensors(directory + "/model.safetensors")
        t.update(torch.load(inputs))
    else:
        path, d_model, heads, d_kv, vocab, tied, tolerance = sys.argv[1:8]
        d_model, heads, d_kv, vocab, tied, tolerance = int(d_model), int(heads), int(d_kv), int(vocab), tied == "1", float(tolerance)
        t = torch.load(path)
    w = lambda name: t[name].double()
    minimum = torch.finfo(torch.float64).min

    def rms(x, name):
        return w(name) * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))

    def attention(prefix, x, source, bias):
        b, lq, lk = x.shape[0], x.shape[1], source.shape[1]
        q = (x @ w(prefix + ".q.weight").T).view(b, lq, heads, d_kv).transpose(1, 2)
        k = (source @ w(prefix + ".k.weight").T).view(b, lk, heads, d_kv).transpose(1, 2)
        v = (source @ w(prefix + ".v.weight").T).view(b, lk, heads, d_kv).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) + bias  # T5: no 1/sqrt(d_kv)
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, lq, heads * d_kv)
        return context @ w(prefix + ".o.weight").T

    def ffn(prefix, x):
        gate = torch.nn.functional.gelu(x @ w(prefix + ".wi_0.weight").T, approximate="tanh")
        return (gate * (x @ w(prefix + ".wi_1.weight").T)) @ w(prefix + ".wo.weight").T

    def position_bias(stack, lq, lk, bidirectional):
        relative = torch.arange(lk)[None, :] - torch.arange(lq)[:, None]
        table = w(stack + ".block.0.layer.0.SelfAttention.relative_attention_bias.weight")
        return table[bucket(relative, bidirectional)].permute(2, 0, 1)[None]

    def blocks(stack):
        n = 0
        while f"{stack}.block.{n}.layer.0.layer_norm.weight" in t:
            n += 1
        return n

    tokens, padding, decoder_tokens = t["in.tokens"], t["in.padding"].bool(), t["in.decoder_tokens"]
    embedding = w("shared.weight")
    # Encoder
    h = embedding[tokens]
    pad_mask = torch.zeros(padding.shape, dtype=torch.float64).masked_fill(padding, minimum)[:, None, None, :]
    bias = position_bias("encoder", h.shape[1], h.shape[1], True) + pad_mask
    for i in range(blocks("encoder")):
        p = f"encoder.block.{i}.layer"
        h = h + attention(p + ".0.SelfAttention", rms(h, p + ".0.layer_norm.weight"), rms(h, p + ".0.layer_norm.weight"), bias)
        h = h + ffn(p + ".1.DenseReluDense", rms(h, p + ".1.layer_norm.weight"))
    memory = rms(h, "encoder.final_layer_norm.weight")
    # Decoder
    h = embedding[decoder_tokens]
    lq = h.shape[1]
    causal = torch.zeros(lq, lq, dtype=torch.float64).masked_fill(torch.ones(lq, lq).triu(1).bool(), minimum)
    bias = position_bias("decoder", lq, lq, False) + causal[None, None]
    for i in range(blocks("decoder")):
        p = f"decoder.block.{i}.layer"
        x = rms(h, p + ".0.layer_norm.weight")
        h = h + attention(p + ".0.SelfAttention", x, x, bias)
        h = h + attention(p + ".1.EncDecAttention", rms(h, p + ".1.layer_norm.weight"), memory, pad_mask)
        h = h + ffn(p + ".2.DenseReluDense", rms(h, p + ".2.layer_norm.weight"))
    h = rms(h, "decoder.final_layer_norm.weight")
    logits = (h * d_model ** -0.5) @ embedding.T if tied else h @ w("lm_head.weight").T
    ours = t["out.logits"].double()
    diff = (logits[..., :vocab] - ours[..., :vocab]).abs().max().item()
    padded_lowest = bool((ours[..., vocab:] == torch.finfo(torch.float32).min).all())
    print(f"t5_reference: max |difference| {diff:.3g} over {logits[..., :vocab].numel()} logits "
          f"(tolerance {tolerance}); padded vocabulary at the lowest logit: {padded_lowest}")
    sys.exit(0 if diff < tolerance and padded_lowest else 1)


if __name__ == "__main__":
    main()
