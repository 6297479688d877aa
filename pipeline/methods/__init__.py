"""Numerical methods the stages call that are not stages themselves: the batched logistic-regression solver and
the sentiment-neuron protocol, the attention study's autoencoder and regression heads (torch)."""
