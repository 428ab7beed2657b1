"""Token ids from the tf.data pipeline equal the original BERT tokenizer's.

The oracle is `tokenization.FullTokenizer` of PyPI `bert-tensorflow==1.0.4`
(a test dependency) with the packing of the original
`convert_single_example`. Texts: `data/parity_corpus.txt.gz` (English,
Chinese, Japanese and Korean text from public packages; see
`data/build_parity_corpus.py`), hand-written edge cases and random strings.
The vocabulary is BERT-Base uncased (`data/vocab_uncased.txt`); the cased
runs add cased forms of its words.
"""

import functools
import gzip
import os
import random
import unicodedata

import absl.flags
import numpy as np
import pytest
import tensorflow as tf

from app.preprocessing import ClassifierPreprocessor, normalize_text, split_words

# Its module and session fixtures are built once: keep its tests on one worker.
pytestmark = pytest.mark.xdist_group("test_tokenizer_parity")

DATA_DIR = os.path.join(os.path.dirname(__file__), "data")
UNCASED_VOCAB = os.path.join(DATA_DIR, "vocab_uncased.txt")

EDGE_CASES = [
    # Accents, composed and decomposed.
    "Naïve café, crème brûlée and résumé.",
    "Cafe\u0301 na\u0308ive A\u030a",
    "ÀÉÎÕÜ àéîõü Ñ ñ Ç ç Ø ø Å å Æ æ Œ œ",
    "Ångström, Øresund, Łódź, Dvořák, Erdős, Ibáñez, São Tomé",
    "\u0301\u0301 a\u0301 \u0301b",
    # Quotes, dashes, ellipses.
    "“Smart quotes” and ‘single’ — dashes – and … ellipsis",
    "He said „Guten Tag“, «bonjour» and ‹salut›.",
    "It’s the film’s best scene—really.",
    # Full-width forms, Chinese punctuation, Japanese and Korean.
    "ＡＢＣ ａｂｃ １２３ ！？ （全角） ＠＃＄％",
    "中文全角标点：逗号，句号。问号？感叹号！引号“”‘’书名号《》【】",
    "我爱北京天安门。Hello世界！Ｐｙｔｈｏｎ（派森）",
    "がぎぐげご パピプペポ ｶﾞｷﾞｸﾞ 日本語の文章です。",
    "한국어 문장입니다. 안녕하세요!",
    "\U00020000\U0002a6df\U0002b740 \uf900\ufa0e\U0002f800",
    # Emoji: sequences, skin tones, flags, variation selectors.
    "I love it 😀😂👍🏽 ❤️ 👨‍👩‍👧‍👦 🇫🇷 ☺︎ ✌🏿",
    # Control, format and odd space characters.
    "zero\u200bwidth\u200cnon\u200djoiner",
    "soft\u00adhyphen and\u2060word joiner",
    "bell\x07tab\tnew\nline\r\nend\x0bvt\x0cff",
    "nul\x00char and \ufeffbom and replacement\ufffdchar",
    "nbsp\u00a0thin\u2009ideographic\u3000space\u202fnarrow",
    "line\u2028para\u2029sep",
    "\x1c\x1d\x1e\x1f separators\x85next",
    "private\ue000use \U000f0000 and rtl\u200fmark\u202eoverride",
    # Case specials: final sigma, dotted I, sharp s, ligatures, title case.
    "ΟΔΟΣ ΟΔΟΣ. Σ σ ς ΣΑΣ ΌΣΟΣ",
    "İstanbul ISTANBUL ıi İ\u0307",
    "STRASSE straße ß ẞ",
    "ﬁnance ﬂow ǅ ǈ ǋ Ǆ ǆ",
    "ΐ ΰ ŉ ǰ ẖ",
    # Numbers and symbols.
    "½ ¼ ² ³ ⅓ Ⅻ ① ⑴ № ™ © ® ° µ",
    "1,000.50 $5 €10 £3 ¥100 ₹50 50% #1 @you",
    "a+b=c; x<y>z | ~tilde `back` ^caret \\slash",
    "𝐀𝐁𝐂 𝒜 ℌ ℍ ℕ Ⓐⓑ",
    # Long words: the original allows 200 characters, not 100 bytes.
    "a" * 199,
    "b" * 200 + " short",
    "c" * 201 + " short",
    "é" * 120,
    "É" * 201,
    "supercalifragilistic" * 11,
    "pre" + "-" * 250 + "post",
    "中" * 300,
    # Scripts.
    "Привет, мир! Ёлка и ЙОД.",
    "Γειά σου Κόσμε! Ἀθῆναι",
    "שָׁלוֹם עולם",
    "مرحبا بالعالم، السَّلَامُ عَلَيْكُمْ",
    "नमस्ते दुनिया। क़ ड़",
    "สวัสดีชาวโลก",
    "Xin chào thế giới. Tiếng Việt có dấu.",
    # Empty, blank and special-token-looking text.
    "",
    " ",
    "\t\n ",
    "...",
    "[CLS] [SEP] [UNK] [MASK] [PAD] ##ing",
]

# Letters new in Unicode 14.0, which Python 3.11 knows and TensorFlow's
# `tf.strings.lower` (ICU with Unicode 13) does not: it neither lowercases
# them nor counts them as cased before a final sigma. No BERT vocabulary has
# them. Characters unassigned in Python's Unicode 14.0 follow TensorFlow's
# newer tables (RE2, ICU in tensorflow-text) and are left out as well.
UNICODE_14_LETTERS = {
    0x2C2F, 0x2C5F, 0xA7C0, 0xA7C1, 0xA7D0, 0xA7D1, 0xA7D3,
    *range(0xA7D5, 0xA7DA), *range(0x10570, 0x105BD), *range(0x1DF00, 0x1DF1F),
}  # fmt: skip


@pytest.fixture(scope="module")
def tokenization():
    if not absl.flags.FLAGS.is_parsed():
        absl.flags.FLAGS.mark_as_parsed()  # it reads a flag of its own
    from bert import tokenization

    return tokenization


@pytest.fixture(scope="module")
def corpus():
    path = os.path.join(DATA_DIR, "parity_corpus.txt.gz")
    with gzip.open(path, "rt", encoding="utf-8") as file:
        return file.read().splitlines()


@pytest.fixture(scope="module")
def cased_vocab(tmp_path_factory):
    """The uncased vocabulary plus capitalized and upper-case words."""
    with open(UNCASED_VOCAB, encoding="utf-8") as file:
        tokens = [line.strip() for line in file]
    words = [t for t in tokens if t.isalpha()]
    extra = [w.capitalize() for w in words] + [w.upper() for w in words[:3000]]
    extra += ["##" + w.capitalize() for w in words[:3000]]
    known = set(tokens)
    tokens += [t for t in dict.fromkeys(extra) if t not in known]
    path = tmp_path_factory.mktemp("vocab") / "vocab_cased.txt"
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return str(path)


def random_strings(count: int, seed: int = 7) -> list[str]:
    """Short strings drawn from letters, marks, punctuation, CJK and more."""
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "  \t\n\u00a0\u3000\u2028",
        "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡¿«»“”‘’—–…·、。，！？：；（）《》",
        "àáâãäåèéêëìíîïòóôõöùúûüýÿñçÀÉÎÕÜÑÇßøØıİΣσςΆΈ",
        "\u0300\u0301\u0302\u0308\u0327\u0331\u3099\u309a\u0e31\u093f\ufe0f",
        "\x00\x01\x07\x1b\x7f\x85\u200b\u200d\u200e\u2060\ufeff\ufffd\ue000",
        "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年",
        "がぎパピｶﾞ한국어ÅΩµﬁ½²①ＡＢＣａｂｃ１２３😀👍🏽❤🇫",
    ]
    rng = random.Random(seed)
    return [
        "".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 40)))
        for _ in range(count)
    ]


class Original:
    """`FullTokenizer` and `convert_single_example` of the original release."""

    def __init__(self, tokenization, vocab_path, do_lower_case):
        self.tokenizer = tokenization.FullTokenizer(vocab_path, do_lower_case)
        self.tokenize = functools.lru_cache(maxsize=None)(self.tokenizer.tokenize)

    def ids(self, text_a, text_b, max_seq_length):
        tokens_a = list(self.tokenize(text_a))
        tokens_b = list(self.tokenize(text_b)) if text_b else None
        if tokens_b is not None:
            # `_truncate_seq_pair`: cut the longer one, a token at a time.
            while len(tokens_a) + len(tokens_b) > max_seq_length - 3:
                (tokens_a if len(tokens_a) > len(tokens_b) else tokens_b).pop()
            tokens = ["[CLS]"] + tokens_a + ["[SEP]"] + tokens_b + ["[SEP]"]
            segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
        else:
            tokens = ["[CLS]"] + tokens_a[: max_seq_length - 2] + ["[SEP]"]
            segment_ids = [0] * len(tokens)
        return self.tokenizer.convert_tokens_to_ids(tokens), segment_ids


def pipeline_ids(preprocessor, texts_a, texts_b=None):
    features = {"text_a": tf.constant(texts_a)}
    if texts_b is not None:
        features["text_b"] = tf.constant(texts_b)
    outputs = {k: v.numpy() for k, v in preprocessor(features).items()}
    return [
        (list(ids[mask]), list(segments[mask]))
        for ids, segments, mask in zip(
            outputs["token_ids"], outputs["segment_ids"], outputs["padding_mask"]
        )
    ]


@pytest.fixture(scope="module")
def compare(tokenization, cased_vocab):
    """compare(do_lower_case, texts_a, texts_b, length) -> (matches, mismatches)."""
    originals, preprocessors = {}, {}

    def run(do_lower_case, texts_a, texts_b, length):
        vocab = UNCASED_VOCAB if do_lower_case else cased_vocab
        if do_lower_case not in originals:
            originals[do_lower_case] = Original(tokenization, vocab, do_lower_case)
        key = (do_lower_case, length)
        if key not in preprocessors:
            preprocessors[key] = ClassifierPreprocessor(vocab, length, do_lower_case)
        got = pipeline_ids(preprocessors[key], texts_a, texts_b)
        texts_b = texts_b or [None] * len(texts_a)
        original = originals[do_lower_case]
        expected = [original.ids(a, b, length) for a, b in zip(texts_a, texts_b)]
        bad = [(a, b) for a, b, g, e in zip(texts_a, texts_b, got, expected) if g != e]
        return len(texts_a) - len(bad), bad[:5]

    return run


def make_pairs(texts, count, seed):
    rng = random.Random(seed)
    pairs = [(rng.choice(texts), rng.choice(texts)) for _ in range(count)]
    # The original packs an empty text_b as no text_b (`if example.text_b:`).
    long_text = " ".join(texts[:40])
    pairs += [("a b c", ""), ("", "a b c"), ("", ""), ("the end", " ")]
    pairs += [(long_text, ""), (long_text, " "), ("", long_text)]
    return [a for a, _ in pairs], [b for _, b in pairs]


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_real_sentences_match(do_lower_case, compare, corpus):
    matched, bad = compare(do_lower_case, corpus, None, 128)
    assert (matched, bad) == (len(corpus), [])


@pytest.mark.parametrize("do_lower_case", [True, False])
@pytest.mark.parametrize("max_seq_length", [16, 128])
def test_real_pairs_match_with_truncation(
    do_lower_case, max_seq_length, compare, corpus
):
    texts_a, texts_b = make_pairs(corpus, 600, seed=max_seq_length)
    matched, bad = compare(do_lower_case, texts_a, texts_b, max_seq_length)
    assert (matched, bad) == (len(texts_a), [])


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_edge_cases_and_random_strings_match(do_lower_case, compare):
    texts = EDGE_CASES + random_strings(400)
    matched, bad = compare(do_lower_case, texts, None, 128)
    assert (matched, bad) == (len(texts), [])
    texts_a, texts_b = make_pairs(texts, 400, seed=3)
    matched, bad = compare(do_lower_case, texts_a, texts_b, 16)
    assert (matched, bad) == (len(texts_a), [])


def sweep_characters():
    """Every assigned code point, but only a sample of the big uniform blocks."""
    uniform = [(0x3400, 0x9FFF), (0xAC00, 0xD7A3), (0xE000, 0xF8FF), (0x20000, 0x3134A)]
    characters = []
    for code in range(0x110000):
        category = unicodedata.category(chr(code))
        if category == "Cs" or (category in ("Cn", "Co") and code % 499):
            continue  # unassigned, surrogate or private use: a sample
        if any(low <= code <= high for low, high in uniform) and code % 97:
            continue
        characters.append(chr(code))
    return characters


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_every_character_is_cleaned_cased_and_split_as_the_original(
    do_lower_case, tokenization
):
    """Words (before WordPiece) for each character inside and beside a word."""
    basic = tokenization.BasicTokenizer(do_lower_case=do_lower_case)
    characters = [c for c in sweep_characters() if ord(c) not in UNICODE_14_LETTERS]
    texts = [f"X{c}y {c}Σ" for c in characters]
    words = split_words(normalize_text(tf.constant(texts), do_lower_case)).to_list()
    got = [[word.decode("utf-8") for word in row] for row in words]
    bad = [
        (hex(ord(c)), g, e)
        for c, g, e in zip(characters, got, map(basic.tokenize, texts))
        if g != e and unicodedata.category(c) != "Cn"
    ]
    assert len(characters) > 40000
    assert bad == []


def test_long_words_count_characters_not_bytes(tokenization):
    preprocessor = ClassifierPreprocessor(UNCASED_VOCAB, 512)
    ids = preprocessor.tokenize(tf.constant(["é" * 120, "é" * 201]))
    # 120 characters (240 bytes) go through WordPiece; 201 are one [UNK].
    assert len(ids[0]) > 1 and np.asarray(ids[1]).tolist() == [100]
