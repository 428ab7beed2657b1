"""Tokenize and pack raw text into BERT inputs, in TensorFlow ops.

The layer packs each set's tf.data batches of strings once
(`app.input_pipeline.pack_examples`), and runs inside the exported SavedModel,
which takes raw strings.

The packed layout is the original's:

    tokens:      [CLS] is this jack ##son ##ville ? [SEP] no it is not . [SEP]
    segment_ids:   0    0   0    0    0     0    0   0    1  1  1   1  1   1
    padding_mask:  1    1   1    1    1     1    1   1    1  1  1   1  1   1

then zeros up to the sequence length.

Words are cut as the original `tokenization.FullTokenizer` cuts them, in
TensorFlow ops: `normalize_text` is its `_clean_text` and case handling,
`split_words` its whitespace, punctuation and CJK splits, and WordPiece runs
with its limit of 200 characters a word. keras-hub's own `BertTokenizer`
differs on real text (NFKC case folding, words over 100 bytes to `[UNK]`).
"""

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from app.long_text import CHUNKS, HEAD_TAIL, TRUNCATE, fit_chunks, fit_head_tail
from checkpoints import read_vocabulary

# `_clean_text` drops NUL, U+FFFD and control and format characters (Unicode
# Cc and Cf, but not tab, newline or return); private-use and unassigned
# characters stay, and become [UNK].
_DROPPED_CHARACTERS = r"[\x{0}\x{FFFD}\p{Cf}]|[^\P{Cc}\t\n\r]"
# Whitespace to the original: tab, newline, return and Unicode Zs, plus the
# line and paragraph separators that its `str.split()` also splits on.
_WHITESPACE = r"[\t\n\r\p{Zs}\x{2028}\x{2029}]"
# `_is_punctuation`: every non-alphanumeric ASCII character, and Unicode P*.
_PUNCTUATION = r"[!-/:-@\[-`{-~\p{P}]"
# `_is_chinese_char`: the CJK Unified Ideographs blocks, one word each.
_CJK = (
    r"[\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
    r"\x{2B740}-\x{2B81F}\x{2B820}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}]"
)
# `WordpieceTokenizer.max_input_chars_per_word`: longer words are [UNK].
MAX_CHARACTERS_PER_WORD = 200
UNKNOWN_TOKEN = "[UNK]"
_TEXT_NAMES = {"single": ("text_a",), "pair": ("text_a", "text_b")}


def normalize_text(text: tf.Tensor, do_lower_case: bool) -> tf.Tensor:
    """Cleans text as the original tokenizer does before splitting words.

    Drops control and format characters. With `do_lower_case`, lowercases (as
    Python's `str.lower`) and strips accents (NFD, then drop nonspacing
    marks, Unicode Mn); this is not keras-hub's NFKC case folding, which
    also rewrites full-width letters, `…` and `½`. Whitespace is left for
    `split_words`.
    """
    text = tf.strings.regex_replace(text, _DROPPED_CHARACTERS, "")
    if do_lower_case:
        text = tf.strings.lower(text, encoding="utf-8")
        text = tf_text.normalize_utf8(text, "NFD")
        text = tf.strings.regex_replace(text, r"\p{Mn}", "")
    return text


def split_words(text: tf.Tensor) -> tf.RaggedTensor:
    """(batch,) normalized strings -> (batch, None) words, as the original.

    Splits on whitespace, and makes every punctuation mark and CJK character
    a word of its own.
    """
    return tf_text.regex_split(
        text,
        delim_regex_pattern=f"{_WHITESPACE}|{_PUNCTUATION}|{_CJK}",
        keep_delim_regex_pattern=f"{_PUNCTUATION}|{_CJK}",
    )


def mark_long_words_unknown(words: tf.Tensor) -> tf.Tensor:
    """Words of more than 200 characters (not bytes) become [UNK]."""

    def mark():
        characters = tf.strings.length(words, unit="UTF8_CHAR")
        return tf.where(characters > MAX_CHARACTERS_PER_WORD, UNKNOWN_TOKEN, words)

    # Counting bytes is cheap, and no word of 200 bytes has 201 characters.
    has_long_words = tf.reduce_any(tf.strings.length(words) > MAX_CHARACTERS_PER_WORD)
    return tf.cond(has_long_words, mark, lambda: words)


class ClassifierPreprocessor(keras.layers.Layer):
    """Turns `{"text_a": ..., "text_b": ...}` strings into packed BERT inputs.

    Token ids equal those of the original `FullTokenizer` and
    `convert_single_example`, including an empty `text_b`, which the original
    packs as a single sentence.

    Args:
        vocabulary: list of WordPiece tokens, or a path to a `vocab.txt`.
        sequence_length: int. Longest packed sequence; longer inputs are cut
            as the original `_truncate_seq_pair` cuts them (round robin).
        do_lower_case: bool. Lowercase and strip accents before WordPiece.
        trim_to_longest: bool. Cut each batch's padding down to its longest
            example, rounded up to `pad_to_multiple_of` (fewer wasted FLOPs).
        pad_to_multiple_of: int. Rounding for `trim_to_longest`.
        long_text: what of a longer input is packed (`app.long_text`):
            "truncate" (the original), "head_tail" or "chunks" (one row per
            window, and a `document_ids` output naming each row's input).
        doc_stride: int. Tokens shared by consecutive windows ("chunks").

    Example:
    ```python
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "dog"]
    preprocessor = ClassifierPreprocessor(vocab, sequence_length=6)
    preprocessor({"text_a": tf.constant(["The dog"])})["token_ids"]
    # [[2, 5, 6, 3, 0, 0]]
    ```
    """

    def __init__(
        self,
        vocabulary,
        sequence_length: int = 128,
        do_lower_case: bool = True,
        trim_to_longest: bool = False,
        pad_to_multiple_of: int = 8,
        long_text: str = TRUNCATE,
        doc_stride: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._vocabulary = read_vocabulary(vocabulary)
        self.sequence_length = sequence_length
        self.do_lower_case = do_lower_case
        self.trim_to_longest = trim_to_longest
        self.pad_to_multiple_of = pad_to_multiple_of
        self.long_text = long_text
        self.doc_stride = doc_stride
        self.pad_token_id = self._vocabulary.index("[PAD]")
        self.cls_token_id = self._vocabulary.index("[CLS]")
        self.sep_token_id = self._vocabulary.index("[SEP]")
        # A 200-character word takes at most 800 bytes of UTF-8.
        self.word_piece = tf_text.FastWordpieceTokenizer(
            vocab=self._vocabulary,
            max_bytes_per_word=4 * MAX_CHARACTERS_PER_WORD,
            token_out_type=tf.int32,
            unknown_token=UNKNOWN_TOKEN,
            no_pretokenization=True,
        )
        # Every call, eager or inside tf.data or an export, runs one of these
        # graphs: traced once per process and kind, not once per dataset (a
        # trace costs more than packing a whole dev set).
        strings = tf.TensorSpec([None], tf.string)
        self._pack_in_graph = {
            kind: tf.function(
                self._pack,
                input_signature=[dict.fromkeys(_TEXT_NAMES[kind], strings)],
                autograph=False,  # plain ops only: no autograph conversion to trace
            )
            for kind in _TEXT_NAMES
        }
        self.built = True  # No weights: the vocabulary is a lookup table.

    @property
    def vocabulary(self) -> list[str]:
        return list(self._vocabulary)

    def tokenize(self, text: tf.Tensor) -> tf.RaggedTensor:
        """(batch,) strings -> (batch, None) WordPiece ids, unpacked."""
        words = split_words(normalize_text(text, self.do_lower_case))
        words = tf.ragged.map_flat_values(mark_long_words_unknown, words)
        return self.word_piece.tokenize(words).merge_dims(-2, -1)

    def call(self, features):
        kind = "pair" if "text_b" in features else "single"
        texts = {name: features[name] for name in _TEXT_NAMES[kind]}
        return self._pack_in_graph[kind](texts)

    def _pack(self, features):
        segments, text_b, document_ids = self._fit_to_length(features)
        token_ids, segment_ids = self._pack_segments(segments, text_b)
        padding_mask = token_ids != self.pad_token_id
        if self.trim_to_longest:
            longest = tf.reduce_max(tf.reduce_sum(tf.cast(padding_mask, tf.int32), -1))
            length = self.padded_length(longest)
            token_ids = token_ids[:, :length]
            segment_ids = segment_ids[:, :length]
            padding_mask = padding_mask[:, :length]
        packed = {
            "token_ids": token_ids,
            "segment_ids": segment_ids,
            "padding_mask": padding_mask,
        }
        if document_ids is not None:
            packed["document_ids"] = document_ids  # (windows,) input row
        return packed

    def _fit_to_length(self, features):
        """(segments' tokens, text_b, document_ids) after `long_text`'s cut."""
        names = _TEXT_NAMES["pair" if "text_b" in features else "single"]
        segments = tuple(self.tokenize(features[name]) for name in names)
        text_b = features.get("text_b")
        if self.long_text == HEAD_TAIL:
            segments = fit_head_tail(segments, text_b, self.sequence_length)
        elif self.long_text == CHUNKS:
            return fit_chunks(segments, text_b, self.sequence_length, self.doc_stride)
        return segments, text_b, None

    def _pack_segments(self, segments: tuple, text_b):
        """(token_ids, segment_ids), (batch, sequence_length) int32 each.

        The texts' tokens are cut as the original `_truncate_seq_pair` cuts
        them (the longer one loses a token until both fit). A pair row with
        an empty text_b is packed as a single text, `[CLS] a [SEP]`, as the
        original, which tests `if example.text_b:`.
        """
        length = self.sequence_length
        if len(segments) == 1:
            return self._layout([segments[0][:, : length - 2]])
        pair = self._layout(tf_text.RoundRobinTrimmer(length - 3).trim(segments))
        single = self._layout([segments[0][:, : length - 2]])
        is_single = tf.equal(text_b, "")[:, None]  # (batch, 1)
        return tuple(tf.where(is_single, s, p) for s, p in zip(single, pair))

    def _layout(self, segments: list):
        """`[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, then padding, for
        ragged (batch, None) segments that fit: token ids and segment ids.

        Written with dense ops, where keras-hub's `MultiSegmentPacker`
        concatenates ragged tensors: the same layout, and a graph several
        times cheaper to trace (each ragged concatenation adds conditional
        shape checks).
        """
        length = self.sequence_length
        position = tf.range(length)[None, :]  # (1, length)
        batch = segments[0].nrows(out_type=tf.int32)
        token_ids = tf.where(position == 0, self.cls_token_id, self.pad_token_id)
        token_ids = tf.tile(token_ids, tf.stack([batch, 1]))  # (batch, length)
        segment_ids = tf.zeros_like(token_ids)
        start = tf.ones([batch, 1], tf.int32)  # where the segment's tokens begin
        for index, segment in enumerate(segments):
            count = tf.cast(segment.row_lengths(), tf.int32)[:, None]  # (batch, 1)
            dense = segment.to_tensor(self.pad_token_id, shape=[None, length])
            offset = position - start  # (batch, length): index into the segment
            inside = (offset >= 0) & (offset < count)
            tokens = tf.gather(
                dense, tf.clip_by_value(offset, 0, length - 1), batch_dims=1
            )
            token_ids = tf.where(inside, tokens, token_ids)
            token_ids = tf.where(offset == count, self.sep_token_id, token_ids)
            segment_ids = tf.where(inside | (offset == count), index, segment_ids)
            start = start + count + 1
        return token_ids, segment_ids

    def padded_length(self, longest: tf.Tensor):
        """A batch's padded length, given its longest packed example.

        `sequence_length` (a Python int: a fixed shape) unless
        `trim_to_longest`; then `longest` rounded up to `pad_to_multiple_of`.
        """
        if not self.trim_to_longest:
            return self.sequence_length
        multiple = self.pad_to_multiple_of
        longest = tf.cast(longest, tf.int32)
        rounded = (longest + multiple - 1) // multiple * multiple
        return tf.minimum(tf.maximum(rounded, multiple), self.sequence_length)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": self.vocabulary,
                "sequence_length": self.sequence_length,
                "do_lower_case": self.do_lower_case,
                "trim_to_longest": self.trim_to_longest,
                "pad_to_multiple_of": self.pad_to_multiple_of,
                "long_text": self.long_text,
                "doc_stride": self.doc_stride,
            }
        )
        return config


def packed_lengths(packed: dict, num_inputs: tf.Tensor) -> tf.Tensor:
    """int32 (num_inputs,): each input's tokens as packed, padding left out;
    the longest of its windows where a text packs as several (`document_ids`)."""
    lengths = tf.reduce_sum(tf.cast(packed["padding_mask"], tf.int32), axis=-1)
    if "document_ids" not in packed:
        return lengths
    longest = tf.math.unsorted_segment_max(
        lengths, tf.cast(packed["document_ids"], tf.int32), num_segments=num_inputs
    )
    return tf.maximum(longest, 0)  # an input without windows (none expected): 0
