"""A next-token model on generated sequences: batches that are dicts, your own step.

The data: ``tokens`` sequences that count up by a random step modulo the vocabulary
(3, 10, 17, 24, ...), so the next token follows from the two before it. A language model
reads ``tokens[:, :-1]`` and predicts ``tokens[:, 1:]``: the shifted targets that the
default ``(inputs, targets)`` step can't express.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset

VOCAB = 32
LENGTH = 24


class CountingSequences(Dataset):
    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        start = torch.randint(0, VOCAB, (n, 1), generator=g)
        step = torch.randint(1, 8, (n, 1), generator=g)
        self.tokens = (start + step * torch.arange(LENGTH)) % VOCAB

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"tokens": self.tokens[i]}


def build_data(config):
    """The data factory: called on each trial's worker with the trial's config."""
    return {
        "train": CountingSequences(2048, seed=0),
        "val": CountingSequences(512, seed=1),
        "test": CountingSequences(512, seed=2),
    }


class TinyLM(nn.Module):
    def __init__(self, embedding: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, embedding)
        self.rnn = nn.GRU(
            embedding,
            hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.head = nn.Linear(hidden, VOCAB)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(tokens))
        return self.head(out)


def tiny_lm(config, *, n_inputs: int, n_outputs: int) -> nn.Module:
    """The model factory: ``width`` hidden units, ``depth`` GRU layers, and your own
    ``user_embedding`` hyperparameter."""
    embedding = int(config.user.get("user_embedding", 16))
    return TinyLM(embedding, config.width, max(1, config.depth), config.dropout)


def _logits_and_targets(model: nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = batch["tokens"]
    logits = model(tokens[:, :-1])
    return logits.reshape(-1, VOCAB), tokens[:, 1:].reshape(-1)


def lm_step(model: nn.Module, batch: dict) -> torch.Tensor:
    """Your training step: the loss of one batch (raysweep does backward and the rest)."""
    logits, targets = _logits_and_targets(model, batch)
    return F.cross_entropy(logits, targets)


def lm_eval_step(model: nn.Module, batch: dict) -> dict:
    """Your evaluation step: the loss, and numbers reported as val_<name>."""
    logits, targets = _logits_and_targets(model, batch)
    return {
        "loss": F.cross_entropy(logits, targets),
        "token_accuracy": (logits.argmax(-1) == targets).float().mean(),
    }
