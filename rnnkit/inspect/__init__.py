"""Looking inside recurrent networks: gradient flow through time, long-range memory
tasks, neuron activations over text, and word embeddings."""
