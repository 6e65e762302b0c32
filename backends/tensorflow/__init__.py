"""TensorFlow (Keras 3) reference backend: ops, layers, model, training, inference, bundles.

Importing this package does not import TensorFlow; the submodules do.
"""
