"""The runner: configuration, strategy, preprocessing, model, training and export."""
