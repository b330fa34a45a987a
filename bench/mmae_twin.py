#!/usr/bin/python3
"""MMAE's pretraining step written in python3-torch, layer for layer what models/mmae/ computes
(encoder, decoder with FlowMix's two views and un-mixing, EMA teacher on the clean flow,
packet-importance predictor with its low-rank attention bias, ranking loss, AdamW with clipping,
EMA update), to time the C++ step against the same work in Python (bench/mmae_step_bench.sh).

  /usr/bin/python3 bench/mmae_twin.py --dim 64 --depth 2 --heads 4 --decoder-dim 32 \
      --decoder-depth 1 --decoder-heads 4 --batch 32 --steps 20 --threads 2

Inputs are random tensors of the corpus's shapes (the C++ step's data time is reported apart
and is a few ms). Prints one JSON line: median step seconds and samples/s after 3 warm-up steps.
"""
import argparse, json, math, statistics, time
import torch
import torch.nn as nn
import torch.nn.functional as F

TOKENS, PATCH, BYTES, PACKETS, STATS = 400, 4, 1600, 5, 27


def trunc(*shape):
    return nn.Parameter(torch.randn(*shape).clamp(-2, 2) * 0.02)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x, bias=None):
        b, t, _ = x.shape
        qkv = self.qkv(x).view(b, t, self.heads, 3, self.head_dim)
        q, k, v = (qkv.select(3, i).transpose(1, 2) for i in range(3))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
        if bias is not None:
            scores = scores + bias
        return self.out((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, -1))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.ln1, self.attention, self.ln2 = nn.LayerNorm(dim), Attention(dim, heads), nn.LayerNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, mlp), nn.Linear(mlp, dim)

    def forward(self, x, keep=None, bias=None):
        a = self.attention(self.ln1(x), bias)
        if keep is not None:
            a = a * keep.view(-1, 1, 1)
        h = x + a
        m = self.fc2(F.gelu(self.fc1(self.ln2(h))))
        if keep is not None:
            m = m * keep.view(-1, 1, 1)
        return h + m


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.patch = nn.Conv1d(1, c.dim, PATCH, stride=PATCH)
        self.cls_token, self.pos_embed = trunc(1, 1, c.dim), trunc(1, TOKENS + 1, c.dim)
        self.blocks = nn.ModuleList(Block(c.dim, c.heads, 4 * c.dim) for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.dim)

    def embed(self, payload):
        return self.patch(payload.view(-1, 1, BYTES)).transpose(1, 2)

    def forward(self, tokens, keep=None):
        b = tokens.shape[0]
        x = tokens + self.pos_embed[:, 1:]
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(b, 1, -1)
        x = torch.cat([cls, x], 1)
        for i, block in enumerate(self.blocks):
            x = block(x, None if keep is None else keep[i])
        return self.norm(x)


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed = nn.Linear(c.dim, c.decoder_dim)
        self.mask_token, self.pos_embed = trunc(1, 1, c.decoder_dim), trunc(1, TOKENS + 1, c.decoder_dim)
        self.blocks = nn.ModuleList(Block(c.decoder_dim, c.decoder_heads, 4 * c.decoder_dim) for _ in range(c.decoder_depth))
        self.norm, self.pred = nn.LayerNorm(c.decoder_dim), nn.Linear(c.decoder_dim, PATCH)

    def features(self, x):
        h = x + self.pos_embed
        for block in self.blocks:
            h = block(h)
        return self.norm(h)[:, 1:]


class PacketImportance(nn.Module):
    def __init__(self, c, rank=16):
        super().__init__()
        sd, fused, gate = 64, 128, 32
        self.rank = rank
        self.time_embed, self.length_embed = nn.Linear(1, sd), nn.Linear(1, sd)
        self.time_pos, self.length_pos = trunc(1, TOKENS, sd), trunc(1, TOKENS, sd)
        self.fuse, self.fuse_norm = nn.Linear(fused, fused), nn.LayerNorm(fused)
        self.phi1, self.phi2 = nn.Linear(fused, 64), nn.Linear(64, rank)
        self.u_support, self.v_support = nn.Linear(rank, rank, bias=False), nn.Linear(rank, rank, bias=False)
        self.u_suppress, self.v_suppress = nn.Linear(rank, rank, bias=False), nn.Linear(rank, rank, bias=False)
        self.context_gate, self.saliency_gate = nn.Linear(fused, gate // 2), nn.Linear(1, gate // 4)
        gate_in = 1 + gate // 2 + gate // 4
        self.selector_a, self.selector_b = nn.Linear(gate_in, gate, bias=False), nn.Linear(gate_in, gate, bias=False)
        self.gamma_support, self.gamma_suppress = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))
        self.blocks = nn.ModuleList(Block(c.decoder_dim, c.decoder_heads, 4 * c.decoder_dim) for _ in range(c.decoder_depth))
        self.norm, self.head = nn.LayerNorm(c.decoder_dim), nn.Linear(c.decoder_dim, PATCH)

    def bias(self, query, signals):
        scale = 1 / math.sqrt(self.rank)
        t = self.time_embed(signals[..., 1:2]) + self.time_pos
        l = self.length_embed(signals[..., 0:1]) + self.length_pos
        merged = F.gelu(self.fuse_norm(self.fuse(torch.cat([t, l], -1))))
        z = self.phi2(F.gelu(self.phi1(merged)))
        support = self.u_support(z) @ self.v_support(z).transpose(1, 2) * scale
        suppress = self.u_suppress(z) @ self.v_suppress(z).transpose(1, 2) * scale
        with torch.no_grad():
            qn = F.normalize(query, dim=-1)
            sim = torch.relu(qn @ qn.transpose(1, 2))
            sim = sim - torch.diag_embed(torch.diagonal(sim, 0, 1, 2))
            similarity = sim.mean(-1, keepdim=True)
        saliency = self.saliency_gate(query.norm(2, -1, keepdim=True))
        gate_in = torch.cat([similarity, self.context_gate(merged), saliency], -1)
        p = torch.sigmoid(self.selector_a(gate_in) @ self.selector_b(gate_in).transpose(1, 2))
        b = p * (-F.softplus(self.gamma_support) * support) + (1 - p) * (F.softplus(self.gamma_suppress) * suppress)
        return b.clamp(-5, 5).unsqueeze(1)

    def hidden(self, tokens, query, signals):
        bias, h = self.bias(query, signals), tokens
        for block in self.blocks:
            h = block(h, None, bias)
        return h

    def predict(self, h):
        return self.head(self.norm(h)).mean(-1)


class Mmae(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.encoder, self.decoder, self.pmp = Encoder(c), Decoder(c), PacketImportance(c)

    def decode(self, latent, signals, mask=None, partner=None):
        x = self.decoder.embed(latent)
        b = x.shape[0]
        views = x
        if mask is not None:
            m = mask.unsqueeze(-1)
            cls, body = x[:, :1], x[:, 1:]
            token = self.decoder.mask_token.expand_as(body)
            views = torch.cat([cls, body * (1 - m) + token * m], 1)
            views = torch.cat([views, torch.cat([cls, body * m + token * (1 - m)], 1)], 0)
            signals = torch.cat([signals, signals], 0)
        unmix = (lambda t: t) if partner is None else (lambda t: t[:b] * m + t[b:][partner] * (1 - m))
        features = self.decoder.features(views)
        reconstruction = self.decoder.pred(features)
        tokens = (views + self.decoder.pos_embed)[:, 1:]
        predicted = self.pmp.predict(unmix(self.pmp.hidden(tokens, reconstruction, signals)))
        return unmix(reconstruction), unmix(features), predicted

    def clean(self, payload, signals):
        return self.decode(self.encoder(self.encoder.embed(payload)), signals)

    def masked(self, payload, signals, mask, partner, keep):
        tokens = self.encoder.embed(payload)
        m = mask.unsqueeze(-1)
        tokens = tokens * (1 - m) + tokens[partner] * m
        return self.decode(self.encoder(tokens, keep), signals, mask, partner)


class StatsEncoder(nn.Module):
    def __init__(self, out_dim=64):
        super().__init__()
        self.input_norm = nn.BatchNorm1d(STATS)
        self.conv1, self.norm1 = nn.Conv1d(1, 16, 3, padding=1), nn.BatchNorm1d(16)
        self.conv2, self.norm2 = nn.Conv1d(16, 32, 3, padding=1), nn.BatchNorm1d(32)
        self.project = nn.Linear(32, out_dim)

    def forward(self, stats):
        n = self.input_norm(stats)
        h = self.norm1(torch.relu(self.conv1(n.unsqueeze(1))))
        h = self.norm2(torch.relu(self.conv2(h))).max(-1).values
        return torch.cat([n, torch.relu(self.project(h))], 1)


def mutual_best_pairs(embedding):
    n = embedding.shape[0]
    e = F.normalize(embedding.float(), dim=1)
    sim = (e @ e.t()).fill_diagonal_(float("-inf")).tolist()
    partner, paired = list(range(n)), [False] * n
    for _ in range(n // 2):
        best, bi, bj = float("-inf"), -1, -1
        for i in range(n):
            if paired[i]:
                continue
            for j in range(i + 1, n):
                if not paired[j] and sim[i][j] > best:
                    best, bi, bj = sim[i][j], i, j
        if bi < 0:
            break
        partner[bi], partner[bj], paired[bi], paired[bj] = bj, bi, True, True
    return torch.tensor(partner)


def main():
    p = argparse.ArgumentParser()
    for name, default in [("dim", 64), ("depth", 2), ("heads", 4), ("decoder-dim", 32), ("decoder-depth", 1),
                          ("decoder-heads", 4), ("batch", 32), ("steps", 20), ("threads", 2), ("rank-pairs", 200)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--mask-ratio", type=float, default=0.9)
    p.add_argument("--drop-path", type=float, default=0.1)
    c = p.parse_args()
    torch.set_num_threads(c.threads)
    torch.manual_seed(0)
    student, stats_encoder = Mmae(c), StatsEncoder()
    teacher = Mmae(c)
    teacher.load_state_dict(student.state_dict())
    for q in teacher.parameters():
        q.requires_grad_(False)
    for q in stats_encoder.parameters():
        q.requires_grad_(False)
    teacher.eval()
    decay = [q for n, q in student.named_parameters() if q.dim() >= 2 and not any(s in n for s in ("pos", "token", "gamma"))]
    no_decay = [q for n, q in student.named_parameters() if not (q.dim() >= 2 and not any(s in n for s in ("pos", "token", "gamma")))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    b, keep_tokens = c.batch, round(TOKENS * (1 - c.mask_ratio))
    token_packet = torch.tensor([(t * PATCH) // 320 for t in range(TOKENS)])
    times = []
    for step in range(c.steps):
        started = time.perf_counter()
        payload = (torch.randint(0, 256, (b, BYTES)).float() / 255 - 0.5) / 0.5
        lengths, ptimes = torch.rand(b, PACKETS), torch.rand(b, PACKETS)
        signals = torch.stack([lengths[:, token_packet], ptimes[:, token_packet]], -1)
        stats = torch.randn(b, STATS)
        target = payload.view(b, TOKENS, PATCH)
        with torch.no_grad():
            t_rec, t_feat, hardness = teacher.clean(payload, signals)
        noise = torch.rand(b, TOKENS)
        hard = int((TOKENS - keep_tokens) * min(1.0, step / c.steps))
        if hard > 0:
            noise.scatter_add_(1, hardness.topk(hard, 1).indices, torch.full((b, hard), 10.0))
        mask = (noise.argsort(1).argsort(1) >= keep_tokens).float()
        with torch.no_grad():
            stats_encoder.train()
            partner = mutual_best_pairs(stats_encoder(stats))
        keep = []
        for i in range(c.depth):
            rate = c.drop_path * i / (c.depth - 1) if c.depth > 1 else c.drop_path
            keep.append((torch.rand(b) >= rate).float() / (1 - rate))
        rec, feat, predicted = student.masked(payload, signals, mask, partner, keep)
        per_token = (rec - target).pow(2).mean(-1)
        norm = lambda x: F.layer_norm(x, (x.shape[-1],), eps=1e-6)
        loss = per_token.mean() + (1 - F.cosine_similarity(norm(feat), norm(t_feat), dim=-1)).mean()
        pairs = (torch.rand(b, c.rank_pairs, 2) * TOKENS).long().clamp_max(TOKENS - 1)
        pi, pj = predicted.gather(1, pairs[..., 0]), predicted.gather(1, pairs[..., 1])
        real = per_token.detach()
        target_rank = (real.gather(1, pairs[..., 0]) > real.gather(1, pairs[..., 1])).float()
        loss = loss + 0.1 * F.binary_cross_entropy_with_logits(pi - pj, target_rank)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        momentum = 0.99 - 0.03 * (math.cos(math.pi * step / c.steps) + 1) / 2
        with torch.no_grad():
            for tq, sq in zip(teacher.parameters(), student.parameters()):
                tq.mul_(momentum).add_(sq, alpha=1 - momentum)
        times.append(time.perf_counter() - started)
    median = statistics.median(times[3:])
    print(json.dumps({"torch": torch.__version__, "threads": c.threads, "batch": b, "steps": c.steps,
                      "median_step_s": median, "samples_per_s": b / median}))


if __name__ == "__main__":
    main()
