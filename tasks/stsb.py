"""The STS-B processor (GLUE version): a similarity score per sentence pair."""

from tasks.output_kind import OutputKind
from tasks.processor import DataProcessor, glue_layouts


class StsbProcessor(DataProcessor):
    """Reads STS-B: sentence pairs scored for similarity from 0 to 5.

    train.tsv and dev.tsv: `index, genre, filename, year, old_index, source1,
    source2, sentence1, sentence2, score`; test.tsv lacks `score`. The model
    outputs a score (one output trained with mean squared error), scored by
    Pearson and Spearman correlation.
    """

    name = "sts-b"
    is_pair = True
    labels = ()
    output_kind = OutputKind.SCORE
    metric_names = ("pearson", "spearman")
    submission_files = {None: "STS-B.tsv"}
    layouts = glue_layouts(
        text_columns=(7, 8), label_column=9, test_text_columns=(7, 8), test_label="0"
    )
