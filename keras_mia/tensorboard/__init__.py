"""TensorBoard side of keras-mia, laid out like a TensorBoard plugin.

* :mod:`keras_mia.tensorboard.metadata`: the plugin name, the schema
  version and the build/parse functions of the summary metadata;
* :mod:`keras_mia.tensorboard.summary`: the writers the callback uses.

Importing this package does not import TensorFlow; the writers load it on
first use.
"""
