"""``ptycho``: the upstream PtychoPINN module names that ptychodus imports, served by the
ptychopinn-parity backends (docs/ptychodus.md).

Importing this package, :mod:`ptycho.config.config` or :mod:`ptycho.params` never imports
TensorFlow; the modules that run a model import it when they are first used.
"""

FACADE = "ptychopinn-compat"
