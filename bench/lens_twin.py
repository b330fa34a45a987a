#!/usr/bin/python3
"""Lens's MSP pretraining step written in python3-torch: the same T5 v1.1 encoder-decoder that
models/lens/ computes (RMSNorm without mean or bias, relative position bias in each stack's first
block shared by its blocks, no score scaling, gated-GELU FFN, untied LM head, no biases, no
dropout), its cross-entropy over the target tokens, clipping at 1.0 and torch.optim.AdamW, to time
the C++ step against the same work in Python (bench/lens_step_bench.sh).

  /usr/bin/python3 bench/lens_twin.py --d-model 64 --d-kv 16 --d-ff 128 --heads 4 \
      --encoder-layers 2 --decoder-layers 2 --batch 16 --input-length 115 --target-length 26 \
      --steps 20 --threads 2

Inputs are random token ids at fixed lengths (the bench passes the lengths span corruption gives
the corpus's samples). Prints one JSON line: median step seconds after 3 warm-up steps.
"""
import argparse, json, os, statistics, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from t5_reference import bucket  # noqa: E402  T5's relative position buckets, as the tests' reference has them

VOCAB = 65642  # datasets/encoders/lens_vocabulary.h


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


class Attention(nn.Module):
    def __init__(self, c, has_bias, bidirectional):
        super().__init__()
        inner = c.heads * c.d_kv
        self.heads, self.d_kv, self.bidirectional = c.heads, c.d_kv, bidirectional
        self.q, self.k, self.v = (nn.Linear(c.d_model, inner, bias=False) for _ in range(3))
        self.o = nn.Linear(inner, c.d_model, bias=False)
        self.bias = nn.Embedding(32, c.heads) if has_bias else None

    def position_bias(self, q_len, k_len):
        rel = torch.arange(k_len)[None, :] - torch.arange(q_len)[:, None]
        return self.bias(bucket(rel, self.bidirectional)).permute(2, 0, 1).unsqueeze(0)

    def forward(self, x, kv, bias):
        b, t, _ = x.shape
        split = lambda y: y.view(b, -1, self.heads, self.d_kv).transpose(1, 2)
        q, k, v = split(self.q(x)), split(self.k(kv)), split(self.v(kv))
        scores = q @ k.transpose(-2, -1)  # T5 folds 1/sqrt(d_kv) into the init
        if bias is not None:
            scores = scores + bias
        return self.o((scores.float().softmax(-1) @ v).transpose(1, 2).reshape(b, t, -1))


class Block(nn.Module):
    def __init__(self, c, decoder, has_bias):
        super().__init__()
        self.self_norm, self.self_attention = RMSNorm(c.d_model), Attention(c, has_bias, not decoder)
        self.cross = (RMSNorm(c.d_model), Attention(c, False, False)) if decoder else None
        if decoder:
            self.cross_norm, self.cross_attention = self.cross
        self.ffn_norm = RMSNorm(c.d_model)
        self.wi_0, self.wi_1 = (nn.Linear(c.d_model, c.d_ff, bias=False) for _ in range(2))
        self.wo = nn.Linear(c.d_ff, c.d_model, bias=False)

    def forward(self, x, self_bias, memory=None):
        h = self.self_norm(x)
        x = x + self.self_attention(h, h, self_bias)
        if memory is not None:
            x = x + self.cross_attention(self.cross_norm(x), memory, None)
        h = self.ffn_norm(x)
        return x + self.wo(F.gelu(self.wi_0(h), approximate="tanh") * self.wi_1(h))


class Stack(nn.Module):
    def __init__(self, c, layers, decoder):
        super().__init__()
        self.decoder = decoder
        self.blocks = nn.ModuleList(Block(c, decoder, i == 0) for i in range(layers))
        self.final_norm = RMSNorm(c.d_model)

    def forward(self, x, memory=None):
        t = x.shape[1]
        bias = self.blocks[0].self_attention.position_bias(t, t)
        if self.decoder:
            causal = torch.full((t, t), float("-inf")).triu(1)
            bias = bias + causal
        for block in self.blocks:
            x = block(x, bias, memory)
        return self.final_norm(x)


class T5(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.shared = nn.Embedding(VOCAB, c.d_model)
        self.encoder, self.decoder = Stack(c, c.encoder_layers, False), Stack(c, c.decoder_layers, True)
        self.lm_head = nn.Linear(c.d_model, VOCAB, bias=False)

    def forward(self, inputs, decoder_inputs):
        memory = self.encoder(self.shared(inputs))
        return self.lm_head(self.decoder(self.shared(decoder_inputs), memory))


def main():
    p = argparse.ArgumentParser()
    for name, default in (("d-model", 64), ("d-kv", 16), ("d-ff", 128), ("heads", 4), ("encoder-layers", 2),
                          ("decoder-layers", 2), ("batch", 16), ("input-length", 115), ("target-length", 26),
                          ("steps", 20), ("threads", 2)):
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--lr", type=float, default=1e-3)
    c = p.parse_args()
    torch.set_num_threads(c.threads)
    torch.manual_seed(0)
    model = T5(c)
    optimizer = torch.optim.AdamW(model.parameters(), lr=c.lr, betas=(0.9, 0.999), weight_decay=0.0)
    times = []
    for _ in range(c.steps):
        inputs = torch.randint(2, VOCAB, (c.batch, c.input_length))
        target = torch.randint(2, VOCAB, (c.batch, c.target_length))
        decoder_inputs = torch.cat([torch.zeros(c.batch, 1, dtype=torch.long), target[:, :-1]], 1)
        start = time.perf_counter()
        logits = model(inputs, decoder_inputs)
        loss = F.cross_entropy(logits.float().view(-1, VOCAB), target.view(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        times.append(time.perf_counter() - start)
    step = statistics.median(times[3:])
    print(json.dumps({"median_step_s": step, "step_flops": 3 * c.batch * forward_flops(c), "torch": torch.__version__}))


def forward_flops(c):
    """models/lens/lens_model.cpp's lens_forward_flops: 2 per multiply-add, LM head included."""
    d, inner, i, o = c.d_model, c.heads * c.d_kv, c.input_length, c.target_length
    ffn, projections = 2 * 3 * d * c.d_ff, 2 * 4 * d * inner
    encoder = i * (projections + ffn) + 4 * i * i * inner
    decoder = o * (projections + ffn) + 4 * o * o * inner + o * 4 * d * inner + i * 4 * d * inner + 4 * o * i * inner
    return c.encoder_layers * encoder + c.decoder_layers * decoder + o * 2 * d * VOCAB


if __name__ == "__main__":
    main()
