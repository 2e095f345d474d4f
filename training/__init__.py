"""Training MLP-Mixers with tf.distribute (see the project's issues)."""
