"""An experiment folder end to end: build and train a model on cached features, load it back, decode whole splits."""
