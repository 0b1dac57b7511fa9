"""A character-level tokenizer made here, so the toy world needs nothing from a model hub."""

from __future__ import annotations

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ["<pad>", "<unk>", "<bos>", "<eos>"]
# Every character the toy corpus and its tasks can contain; anything else maps to <unk>.
ALPHABET = "\n !\"#$%&'()*+,-./0123456789:;<=>?@[]^_abcdefghijklmnopqrstuvwxyz|~"


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Return the toy world's char-level tokenizer (one token per character, no BOS added)."""
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + list(ALPHABET))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    # "[\s\S]" rather than "." so the newline is a token of its own, too.
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    return _fast(backend)


def _fast(backend: Tokenizer) -> PreTrainedTokenizerFast:
    """The transformers tokenizer around a backend, with the special tokens both worlds use."""
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<bos>",
        eos_token="<eos>",
        clean_up_tokenization_spaces=False,
    )


def encode_text(tokenizer: PreTrainedTokenizerFast, text: str) -> np.ndarray:
    """Token ids of a long text, as the tokenizer gives them, but by table lookup (fast for corpora)."""
    vocab = tokenizer.get_vocab()
    table = np.full(256, vocab["<unk>"], dtype=np.int64)
    for ch in ALPHABET:
        table[ord(ch)] = vocab[ch]
    raw = np.frombuffer(text.encode("ascii", errors="replace"), dtype=np.uint8)
    return table[raw]


def build_word_tokenizer(words: list[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over a world's vocabulary: words split on spaces, newlines kept as tokens,
    decoded with single spaces between words (so a generated "c3 k1" reads back as "c3 k1")."""
    vocab = {w: i for i, w in enumerate(words)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(" ", behavior="removed"), pre_tokenizers.Split("\n", behavior="isolated")]
    )
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    return _fast(backend)
